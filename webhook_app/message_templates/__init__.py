"""WhatsApp message templates: sync from Meta and the templates API."""
