"""webhook_app.db.listen.Notifications, the workers' LISTEN alarm clock, against a real PostgreSQL."""
import threading
import time

from webhook_app.db.listen import Notifications


def test_wakes_on_notify_times_out_and_survives_a_lost_connection(settings, sql):
    stop = threading.Event()
    alarm = Notifications(settings.database_url, "test_channel", stop, "test-listen", retry_pause=0.1)
    try:
        assert alarm.wait(5) is True  # connecting answers at once: nothing announced before was heard
        started = time.monotonic()
        assert alarm.wait(0.3) is False and time.monotonic() - started >= 0.3
        sql("SELECT pg_notify('test_channel', 'x')")
        assert alarm.wait(5) is True
        # The server drops the listening connection: the next wait reconnects and wakes its caller.
        sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'test-listen'")
        assert alarm.wait(5) is True
        sql("SELECT pg_notify('test_channel', 'y')")
        assert alarm.wait(5) is True  # listening again on the new connection
        stop.set()
        started = time.monotonic()
        assert alarm.wait(30) is False and time.monotonic() - started < 1
    finally:
        alarm.close()
