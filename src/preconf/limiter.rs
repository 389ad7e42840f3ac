//! Per-client limits of a public server: a token bucket of requests per second (or of what
//! requests cost, e.g. one token per signature a request has the server recover) and a bound on
//! requests in flight, per client IP, in a map that cannot grow without bound. Pure and
//! synchronous; time is passed in.

use std::{collections::HashMap, net::IpAddr, sync::Mutex, time::Instant};

/// The limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientLimits {
    /// Requests one client may start per second, on average.
    pub per_second: u32,
    /// Requests one client may start at once after being idle (the bucket's size).
    pub burst: u32,
    /// Requests of one client in flight at once.
    pub in_flight: u32,
    /// Clients tracked at once; idle ones are forgotten first, and a new client is refused
    /// while every tracked one is busy.
    pub max_clients: usize,
}

impl ClientLimits {
    /// The gateway's defaults: 50 requests per second with bursts of 100, 16 in flight, 10,000
    /// clients.
    pub const DEFAULT: Self =
        Self { per_second: 50, burst: 100, in_flight: 16, max_clients: 10_000 };
}

/// Why a request was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The client started its share of requests (or of their cost).
    #[error("client {0} exceeds its rate of {1} per second")]
    Rate(IpAddr, u32),
    /// The client has its share of requests in flight.
    #[error("client {0} has {1} requests in flight, the most allowed")]
    InFlight(IpAddr, u32),
    /// Too many clients are busy at once.
    #[error("{0} clients are busy; try again")]
    Clients(usize),
}

#[derive(Clone, Copy, Debug)]
struct Client {
    tokens: f64,
    refilled: Instant,
    in_flight: u32,
}

/// The state of every tracked client.
#[derive(Debug)]
pub struct ClientLimiter {
    limits: ClientLimits,
    clients: HashMap<IpAddr, Client>,
}

impl ClientLimiter {
    /// No client tracked yet.
    pub fn new(limits: ClientLimits) -> Self {
        Self { limits, clients: HashMap::new() }
    }

    /// Clients tracked.
    pub fn tracked(&self) -> usize {
        self.clients.len()
    }

    /// Admits a request of `client` at `now`, counting it in flight until [`Self::finish`].
    pub fn start(&mut self, client: IpAddr, now: Instant) -> Result<(), Refusal> {
        self.start_costing(client, now, 1)
    }

    /// [`Self::start`] for a request that takes `cost` tokens of the client's bucket rather than
    /// one. A cost above the burst is never admitted.
    pub fn start_costing(
        &mut self,
        client: IpAddr,
        now: Instant,
        cost: u32,
    ) -> Result<(), Refusal> {
        let limits = self.limits;
        if !self.clients.contains_key(&client) && self.clients.len() >= limits.max_clients {
            self.forget_idle(now);
            if self.clients.len() >= limits.max_clients {
                return Err(Refusal::Clients(self.clients.len()));
            }
        }
        let state = self.clients.entry(client).or_insert_with(|| Client::new(limits, now));
        can_start(state, client, limits, now, cost)?;
        state.tokens -= f64::from(cost);
        state.in_flight += 1;
        Ok(())
    }

    /// Ends a request [`Self::start`] admitted.
    pub fn finish(&mut self, client: IpAddr) {
        if let Some(state) = self.clients.get_mut(&client) {
            state.in_flight = state.in_flight.saturating_sub(1);
        }
    }

    /// [`Self::start`] on a limiter shared by a server's calls: the request is in flight until
    /// the returned guard is dropped, also when the client hangs up and the server drops the
    /// call half-way (which would otherwise leave it counted for good: the client refused at
    /// its in-flight limit and, once enough addresses are, every new client refused as one too
    /// many).
    pub fn admit(
        shared: &Mutex<Self>,
        client: IpAddr,
        now: Instant,
    ) -> Result<Admitted<'_>, Refusal> {
        Self::admit_costing(shared, client, now, 1)
    }

    /// [`Self::admit`] for a request that costs `cost` tokens ([`Self::start_costing`]).
    pub fn admit_costing(
        shared: &Mutex<Self>,
        client: IpAddr,
        now: Instant,
        cost: u32,
    ) -> Result<Admitted<'_>, Refusal> {
        shared.lock().expect("not poisoned").start_costing(client, now, cost)?;
        Ok(Admitted { shared, client })
    }

    /// Whether [`Self::admit_costing`] would admit a request of `client` costing `cost` at
    /// `now`, taking nothing: a server refuses with it, before any work, a request whose cost
    /// it can tell up front and that the client could not pay for afterwards anyway. Tracks no
    /// new client.
    pub fn affords(
        shared: &Mutex<Self>,
        client: IpAddr,
        now: Instant,
        cost: u32,
    ) -> Result<(), Refusal> {
        let mut limiter = shared.lock().expect("not poisoned");
        let limits = limiter.limits;
        let mut new = Client::new(limits, now);
        let state = limiter.clients.get_mut(&client).unwrap_or(&mut new);
        can_start(state, client, limits, now, cost)
    }

    /// Forgets the clients with nothing in flight and a full bucket: they are as if new.
    fn forget_idle(&mut self, now: Instant) {
        let limits = self.limits;
        self.clients.retain(|_, state| {
            refill(state, limits, now);
            state.in_flight > 0 || state.tokens < f64::from(limits.burst)
        });
    }
}

/// A request [`ClientLimiter::admit`] admitted, in flight until dropped.
#[derive(Debug)]
#[must_use = "the request is in flight only while this is held"]
pub struct Admitted<'a> {
    shared: &'a Mutex<ClientLimiter>,
    client: IpAddr,
}

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        if let Ok(mut limiter) = self.shared.lock() {
            limiter.finish(self.client);
        }
    }
}

impl Client {
    /// A client not seen before (or forgotten): a full bucket.
    fn new(limits: ClientLimits, now: Instant) -> Self {
        Self { tokens: f64::from(limits.burst), refilled: now, in_flight: 0 }
    }
}

/// Refills `state` to `now` and whether it can start a request costing `cost`.
fn can_start(
    state: &mut Client,
    client: IpAddr,
    limits: ClientLimits,
    now: Instant,
    cost: u32,
) -> Result<(), Refusal> {
    refill(state, limits, now);
    if state.in_flight >= limits.in_flight {
        return Err(Refusal::InFlight(client, limits.in_flight));
    }
    if state.tokens < f64::from(cost) {
        return Err(Refusal::Rate(client, limits.per_second));
    }
    Ok(())
}

fn refill(state: &mut Client, limits: ClientLimits, now: Instant) {
    let elapsed = now.saturating_duration_since(state.refilled).as_secs_f64();
    state.tokens =
        (state.tokens + elapsed * f64::from(limits.per_second)).min(f64::from(limits.burst));
    state.refilled = now;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const LIMITS: ClientLimits =
        ClientLimits { per_second: 10, burst: 2, in_flight: 2, max_clients: 2 };

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, n])
    }

    #[test]
    fn a_client_gets_its_burst_then_its_rate() {
        let now = Instant::now();
        let mut limiter = ClientLimiter::new(LIMITS);
        limiter.start(ip(1), now).unwrap();
        limiter.finish(ip(1));
        limiter.start(ip(1), now).unwrap();
        limiter.finish(ip(1));
        assert_eq!(limiter.start(ip(1), now), Err(Refusal::Rate(ip(1), 10)));
        limiter.start(ip(1), now + Duration::from_millis(100)).unwrap();
    }

    #[test]
    fn a_costly_request_takes_as_many_tokens() {
        let now = Instant::now();
        let mut limiter = ClientLimiter::new(ClientLimits { burst: 10, in_flight: 10, ..LIMITS });
        assert_eq!(limiter.start_costing(ip(1), now, 11), Err(Refusal::Rate(ip(1), 10)));
        limiter.start_costing(ip(1), now, 8).unwrap();
        assert_eq!(limiter.start_costing(ip(1), now, 3), Err(Refusal::Rate(ip(1), 10)));
        limiter.start_costing(ip(1), now, 2).unwrap();
        limiter.start_costing(ip(1), now + Duration::from_millis(300), 3).unwrap();
    }

    #[test]
    fn what_a_client_affords_is_told_without_taking_it() {
        let now = Instant::now();
        let shared = Mutex::new(ClientLimiter::new(ClientLimits { burst: 10, ..LIMITS }));
        assert_eq!(ClientLimiter::affords(&shared, ip(1), now, 10), Ok(()));
        assert_eq!(ClientLimiter::affords(&shared, ip(1), now, 11), Err(Refusal::Rate(ip(1), 10)));
        assert_eq!(shared.lock().unwrap().tracked(), 0, "asking tracks no one");
        drop(ClientLimiter::admit_costing(&shared, ip(1), now, 8).unwrap());
        assert_eq!(ClientLimiter::affords(&shared, ip(1), now, 3), Err(Refusal::Rate(ip(1), 10)));
        assert_eq!(ClientLimiter::affords(&shared, ip(1), now, 2), Ok(()));
        assert_eq!(ClientLimiter::affords(&shared, ip(1), now, 2), Ok(()), "nothing was taken");
        ClientLimiter::admit_costing(&shared, ip(1), now, 2).map(drop).unwrap();
    }

    #[test]
    fn a_client_has_a_bounded_number_of_requests_in_flight() {
        let now = Instant::now();
        let limits = ClientLimits { burst: 10, ..LIMITS };
        let mut limiter = ClientLimiter::new(limits);
        limiter.start(ip(1), now).unwrap();
        limiter.start(ip(1), now).unwrap();
        assert_eq!(limiter.start(ip(1), now), Err(Refusal::InFlight(ip(1), 2)));
        limiter.start(ip(2), now).unwrap();
        limiter.finish(ip(1));
        limiter.start(ip(1), now).unwrap();
    }

    #[test]
    fn an_admitted_request_is_in_flight_until_its_guard_is_dropped() {
        let now = Instant::now();
        let shared = Mutex::new(ClientLimiter::new(ClientLimits { burst: 10, ..LIMITS }));
        let first = ClientLimiter::admit(&shared, ip(1), now).unwrap();
        let second = ClientLimiter::admit(&shared, ip(1), now).unwrap();
        assert_eq!(
            ClientLimiter::admit(&shared, ip(1), now).map(drop),
            Err(Refusal::InFlight(ip(1), 2))
        );
        drop(first);
        let third = ClientLimiter::admit(&shared, ip(1), now).unwrap();
        drop((second, third));
        assert!(shared.lock().unwrap().clients.values().all(|client| client.in_flight == 0));
    }

    #[test]
    fn the_client_map_stays_bounded_and_forgets_idle_clients_first() {
        let now = Instant::now();
        let mut limiter = ClientLimiter::new(LIMITS);
        limiter.start(ip(1), now).unwrap();
        limiter.start(ip(2), now).unwrap();
        assert_eq!(limiter.start(ip(3), now), Err(Refusal::Clients(2)));
        limiter.finish(ip(1));
        let later = now + Duration::from_secs(1);
        limiter.start(ip(3), later).unwrap();
        assert_eq!(limiter.tracked(), 2);
    }
}
