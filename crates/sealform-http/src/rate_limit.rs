//! Request budgets for the APIs (both the native and the Jotform-compatible one): each API key spends from a token
//! bucket sized by its organisation's setting, and failed authentication spends, much faster, from a bucket per
//! client address and key prefix — so guessing a key's secret is slow even though a valid key's budget is generous,
//! and one client's wrong keys never lock out another key used from behind the same proxy.
//!
//! The buckets live in memory: one process serves an installation, and a restart that refills them is harmless.
//! Time comes from the state's clock, so tests move it instead of sleeping.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};

use http::{HeaderName, HeaderValue};
use sealform_core::DomainError;
use sealform_core::api_keys::{ApiPrincipal, ApiRateLimit, authenticate};
use sealform_core::store::Store;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::AppState;

/// Failed authentications one client address may make a minute (and at once) before every attempt from it is
/// refused for a while, the right key included.
pub const FAILED_AUTH_LIMIT: ApiRateLimit = ApiRateLimit { per_minute: 10, burst: 10 };

/// Buckets kept before idle (refilled) ones are dropped; beyond [`HARD_CAP`] even active ones go, so a flood of
/// addresses cannot exhaust memory.
const SOFT_CAP: usize = 10_000;
const HARD_CAP: usize = 100_000;

/// The request budgets of one server.
#[derive(Debug, Default)]
pub struct ApiLimiter {
    keys: Mutex<Buckets<Uuid>>,
    failures: Mutex<Buckets<(IpAddr, Prefix)>>,
}

/// What is left of a key's budget after a request was admitted, for the `RateLimit` headers and `limit-left`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// The sustained budget, requests a minute.
    pub per_minute: u32,
    /// Requests that may still be made at once.
    pub remaining: u32,
    /// Seconds until the bucket is full again.
    pub reset_secs: u64,
}

impl Budget {
    /// The IETF `RateLimit-Policy` and `RateLimit` header fields (draft-ietf-httpapi-ratelimit-headers) describing
    /// this budget.
    #[must_use]
    pub fn headers(&self) -> [(HeaderName, HeaderValue); 2] {
        let policy = format!("\"per-key\";q={};w=60", self.per_minute);
        let state = format!("\"per-key\";r={};t={}", self.remaining, self.reset_secs);
        [
            (HeaderName::from_static("ratelimit-policy"), HeaderValue::try_from(policy).expect("ASCII")),
            (HeaderName::from_static("ratelimit"), HeaderValue::try_from(state).expect("ASCII")),
        ]
    }
}

/// Why a request carrying (or lacking) an API key was refused.
#[derive(Debug)]
pub enum Refusal {
    /// No key, or a wrong, expired or revoked one (401).
    Unauthorized(String),
    /// The client address failed to authenticate too often; wait this many seconds (429).
    TooManyFailures {
        /// Seconds until an attempt is accepted again.
        retry_after: u64,
    },
    /// The key spent its budget; wait this many seconds (429).
    OverBudget {
        /// Seconds until a request is admitted again.
        retry_after: u64,
        /// The budget, empty.
        budget: Budget,
    },
    /// Storage failed while checking the key.
    Failed(DomainError),
}

/// A key that authenticated and was admitted, with what is left of its budget.
#[derive(Debug)]
pub struct Admitted {
    /// Who the key acts for and what it may do.
    pub principal: ApiPrincipal,
    /// What is left of its budget.
    pub budget: Budget,
}

/// Checks `key` (as sent, `None` when absent) for a request from `ip`, then spends one request of the key's budget.
///
/// # Errors
/// A [`Refusal`] saying why.
pub async fn admit<S: Store>(state: &AppState<S>, ip: Option<IpAddr>, key: Option<&str>) -> Result<Admitted, Refusal> {
    let now = state.clock.now();
    let Some(key) = key.map(str::trim) else {
        return Err(Refusal::Unauthorized("send an API key".into()));
    };
    let source = (address_block(ip), prefix_of(key));
    if let Some(retry_after) = state.limits.failures_exhausted(source, now) {
        return Err(Refusal::TooManyFailures { retry_after });
    }
    let principal = match authenticate(&state.store, state.clock.as_ref(), key).await {
        Ok(principal) => principal,
        Err(DomainError::Unauthorized(message)) => {
            state.limits.record_failure(source, now);
            return Err(Refusal::Unauthorized(message));
        }
        Err(other) => return Err(Refusal::Failed(other)),
    };
    match state.limits.spend(principal.key, principal.rate, now) {
        Ok(budget) => Ok(Admitted { principal, budget }),
        Err((retry_after, budget)) => Err(Refusal::OverBudget { retry_after, budget }),
    }
}

impl ApiLimiter {
    /// Spends one request of `key`'s budget: what is left, or the seconds to wait and the (empty) budget.
    fn spend(&self, key: Uuid, limit: ApiRateLimit, now: OffsetDateTime) -> Result<Budget, (u64, Budget)> {
        let mut keys = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
        let bucket = keys.entry(key, limit, now);
        // The organisation may have changed its setting since the bucket was made.
        bucket.limit = limit;
        let taken = bucket.take(now);
        let budget = Budget {
            per_minute: limit.per_minute,
            remaining: bucket.whole_tokens(),
            reset_secs: bucket.secs_until_full(),
        };
        taken.map(|()| budget).map_err(|wait| (wait, budget))
    }

    /// Seconds to wait when `source` has no failed attempts left; `None` when it may try.
    fn failures_exhausted(&self, source: (IpAddr, Prefix), now: OffsetDateTime) -> Option<u64> {
        let mut failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        let bucket = failures.get(&source)?;
        bucket.refill(now);
        (bucket.tokens < 1.0).then(|| bucket.secs_until_one())
    }

    /// Spends one failed attempt of `source`'s allowance.
    fn record_failure(&self, source: (IpAddr, Prefix), now: OffsetDateTime) {
        let mut failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        // An empty bucket stays empty: the attempt was refused before it got here.
        let _ = failures.entry(source, FAILED_AUTH_LIMIT, now).take(now);
    }
}

/// The visible prefix a key starts with (`sf_` and ten characters), or zeros: failures are counted per prefix, so
/// guessing one key's secret is throttled without touching the other keys used from the same address.
type Prefix = [u8; 13];

fn prefix_of(key: &str) -> Prefix {
    let mut prefix = [0; 13];
    if let Some(start) = key.as_bytes().get(..13) {
        prefix.copy_from_slice(start);
    }
    prefix
}

/// What failed attempts are counted against: the address, or for IPv6 its /64 (one subscriber's whole block, or
/// an attacker could rotate through it). Requests without a known address share one bucket.
fn address_block(ip: Option<IpAddr>) -> IpAddr {
    match ip {
        Some(IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_none() => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(prefix.into())
        }
        Some(IpAddr::V6(v6)) => IpAddr::V4(v6.to_ipv4_mapped().expect("checked")),
        Some(v4) => v4,
        None => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
    }
}

/// Token buckets by id, bounded in number.
#[derive(Debug)]
struct Buckets<K>(HashMap<K, Bucket>);

impl<K> Default for Buckets<K> {
    fn default() -> Self {
        Self(HashMap::new())
    }
}

impl<K: std::hash::Hash + Eq + Copy> Buckets<K> {
    fn get(&mut self, id: &K) -> Option<&mut Bucket> {
        self.0.get_mut(id)
    }

    /// The bucket of `id`, a full one if it had none.
    fn entry(&mut self, id: K, limit: ApiRateLimit, now: OffsetDateTime) -> &mut Bucket {
        if !self.0.contains_key(&id) && self.0.len() >= SOFT_CAP {
            self.prune(now);
        }
        self.0.entry(id).or_insert_with(|| Bucket { tokens: f64::from(limit.burst), at: now, limit })
    }

    /// Drops the buckets that have refilled (forgetting them changes nothing); past the hard cap, all of them.
    fn prune(&mut self, now: OffsetDateTime) {
        self.0.retain(|_, bucket| {
            bucket.refill(now);
            bucket.tokens < f64::from(bucket.limit.burst)
        });
        if self.0.len() >= HARD_CAP {
            self.0.clear();
        }
    }
}

/// A token bucket: `tokens` at time `at`, refilled continuously at the limit's rate up to its burst.
#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: OffsetDateTime,
    limit: ApiRateLimit,
}

impl Bucket {
    fn refill(&mut self, now: OffsetDateTime) {
        // A clock stepped back refills nothing and restarts the count from now, so refills resume at once.
        let elapsed = (now - self.at).as_seconds_f64().max(0.0);
        self.tokens = (self.tokens + elapsed * per_second(self.limit)).min(f64::from(self.limit.burst));
        self.at = now;
    }

    /// Takes one token, or says how many seconds until one is there.
    fn take(&mut self, now: OffsetDateTime) -> Result<(), u64> {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(self.secs_until_one())
        }
    }

    fn whole_tokens(&self) -> u32 {
        // Tokens never exceed the burst, a u32.
        self.tokens.floor() as u32
    }

    fn secs_until_one(&self) -> u64 {
        seconds_for((1.0 - self.tokens).max(0.0), self.limit)
    }

    fn secs_until_full(&self) -> u64 {
        seconds_for(f64::from(self.limit.burst) - self.tokens, self.limit)
    }
}

fn per_second(limit: ApiRateLimit) -> f64 {
    f64::from(limit.per_minute) / 60.0
}

/// Whole seconds (rounded up) to refill `tokens`.
fn seconds_for(tokens: f64, limit: ApiRateLimit) -> u64 {
    // At most burst / (1/60) = 6e9 s for the largest figures: fits a u64.
    (tokens / per_second(limit)).ceil().max(0.0) as u64
}

#[cfg(test)]
mod tests {
    use time::Duration;
    use time::macros::datetime;

    use super::*;

    const T0: OffsetDateTime = datetime!(2026-11-23 12:00 UTC);

    #[test]
    fn a_key_spends_its_burst_then_waits_for_the_refill() {
        let limiter = ApiLimiter::default();
        let key = Uuid::now_v7();
        let limit = ApiRateLimit { per_minute: 60, burst: 3 };
        let remaining: Vec<u32> = (0..3).map(|_| limiter.spend(key, limit, T0).unwrap().remaining).collect();
        assert_eq!(remaining, [2, 1, 0]);
        let (wait, budget) = limiter.spend(key, limit, T0).unwrap_err();
        assert_eq!((wait, budget.remaining), (1, 0), "one a second at 60 a minute");
        assert_eq!(budget.reset_secs, 3);
        assert!(limiter.spend(key, limit, T0 + Duration::seconds(1)).is_ok(), "refilled one token");
        // Another key has its own bucket.
        assert_eq!(limiter.spend(Uuid::now_v7(), limit, T0).unwrap().remaining, 2);
    }

    #[test]
    fn failures_are_counted_per_address_and_prefix_and_ipv6_per_64() {
        let limiter = ApiLimiter::default();
        let source = |ip: &str, key: &str| (address_block(Some(ip.parse().unwrap())), prefix_of(key));
        let guess = source("2001:db8:1:2::1", "sf_AAAAAAAAAA_guess");
        for _ in 0..FAILED_AUTH_LIMIT.burst {
            assert_eq!(limiter.failures_exhausted(guess, T0), None);
            limiter.record_failure(guess, T0);
        }
        let same_block = source("2001:db8:1:2:ffff::9", "sf_AAAAAAAAAA_other");
        assert_eq!(limiter.failures_exhausted(same_block, T0), Some(6), "10 a minute: one every 6 s");
        assert_eq!(limiter.failures_exhausted(source("192.0.2.7", "sf_AAAAAAAAAA_x"), T0), None, "another address");
        let other_key = source("2001:db8:1:2::1", "sf_BBBBBBBBBB_real");
        assert_eq!(limiter.failures_exhausted(other_key, T0), None, "another key from behind the same proxy");
        assert_eq!(limiter.failures_exhausted(guess, T0 + Duration::seconds(6)), None);
    }

    #[test]
    fn a_clock_stepped_back_does_not_stall_the_refill() {
        let limiter = ApiLimiter::default();
        let (key, limit) = (Uuid::now_v7(), ApiRateLimit { per_minute: 60, burst: 1 });
        assert!(limiter.spend(key, limit, T0).is_ok());
        let earlier = T0 - Duration::hours(1);
        assert!(limiter.spend(key, limit, earlier).is_err(), "no refill for time going backwards");
        assert!(limiter.spend(key, limit, earlier + Duration::seconds(1)).is_ok(), "refills from the new now");
    }

    #[test]
    fn idle_buckets_are_forgotten_beyond_the_soft_cap() {
        let mut buckets = Buckets::<u32>::default();
        let limit = ApiRateLimit { per_minute: 60, burst: 2 };
        for id in 0..u32::try_from(SOFT_CAP).unwrap() {
            buckets.entry(id, limit, T0).take(T0).unwrap();
        }
        // Two seconds later every bucket has refilled, so adding one more drops them all.
        buckets.entry(u32::MAX, limit, T0 + Duration::seconds(2));
        assert_eq!(buckets.0.len(), 1);
    }
}
