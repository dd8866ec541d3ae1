-- How a member's readers reach its closed discs from off campus (shown on the page that
-- refuses them): the library's proxy prefix (EZproxy, WebVPN), its VPN page, whom to ask.
ALTER TABLE members ADD COLUMN proxy_prefix TEXT;
ALTER TABLE members ADD COLUMN vpn_url TEXT;
ALTER TABLE members ADD COLUMN contact TEXT;
