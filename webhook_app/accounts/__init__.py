"""Connected accounts: the store, the OAuth connect flows, Meta's and TikTok's clients, account data sync."""
