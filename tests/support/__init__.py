"""What the tests share: live servers and a browser-like client (live), signed webhook deliveries (webhooks), rows put in or read out directly (rows), deployment fixtures (deploy)."""
