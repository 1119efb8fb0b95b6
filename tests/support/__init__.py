"""What the tests share: live servers and a browser (live), deliveries (webhooks), rows, deployment (deploy)."""
