"""The yardstick for intake: a bare Flask route that reads the body and answers 200, nothing else."""
from flask import Flask, request

app = Flask(__name__)


@app.post("/webhook")
def webhook():
    request.get_data()
    return "EVENT_RECEIVED"


@app.get("/healthz")
def healthz():
    return "ok"
