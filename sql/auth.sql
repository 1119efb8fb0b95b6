-- Named queries: Users (webhook_app/auth).
-- Only the package named here runs them (tests/test_query_ownership.py).

-- create_user --
-- Insert a user; returns nothing when the email is taken (any case).
INSERT INTO users (email, password_hash)
VALUES (%(email)s, %(password_hash)s)
ON CONFLICT ((lower(email))) DO NOTHING
RETURNING id, email, created_at;

-- get_user_by_email --
-- The user with this email, compared without case.
SELECT id, email, password_hash FROM users WHERE lower(email) = lower(%(email)s);

-- get_user --
-- The user with this id.
SELECT id, email, created_at, last_login_at FROM users WHERE id = %(user_id)s;

-- record_login --
-- Remember when the user last logged in.
UPDATE users SET last_login_at = now() WHERE id = %(user_id)s;
