-- Each organisation's budget for API requests per key (issue #10): a token bucket refilled at `api_requests_per_minute`
-- and holding at most `api_burst` requests. The default lets a bulk import or a load test on one machine run
-- unthrottled; operators lower it per organisation.
ALTER TABLE organisations ADD COLUMN api_requests_per_minute INTEGER NOT NULL DEFAULT 100000;
ALTER TABLE organisations ADD COLUMN api_burst INTEGER NOT NULL DEFAULT 100000;
