"""`make run`'s machinery: one instance per var/, children kept alive, and the timers of deployment/ run locally."""
