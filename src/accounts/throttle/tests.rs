//! The throttle's tests: each limit, tokens given back, parallel attempts.

use super::*;

const SECOND: Duration = Duration::from_secs(1);

#[test]
fn ipv4_keeps_the_ip_and_ipv6_its_network() {
    assert_eq!(
        client_address("127.0.0.2:50000"),
        IpAddr::from([127, 0, 0, 2])
    );
    assert_eq!(
        client_address("[2001:db8:1:2:3:4:5:6]:7878"),
        "2001:db8:1:2::".parse::<IpAddr>().unwrap()
    );
    assert_eq!(
        client_address("[::ffff:10.0.0.1]:1"),
        IpAddr::from([10, 0, 0, 1]),
        "an IPv4 client on an IPv6 socket counts as its IPv4 address"
    );
}

fn login(throttle: &Throttle, gate: &HashGate, name: &str, from: IpAddr, right: bool) -> bool {
    match throttle.admit_login(gate, name, from) {
        Ok(attempt) => {
            if right {
                attempt.succeeded();
            }
            true
        }
        Err(refusal) => {
            assert_eq!(refusal.code, ErrorCode::Throttled);
            assert!(refusal.message.contains("retry in"), "{refusal}");
            false
        }
    }
}

#[test]
fn three_failures_per_name_and_address_then_refused_but_not_elsewhere() {
    let (throttle, gate) = (Throttle::new(Limits::default()), HashGate::new(1));
    let (a, b) = (IpAddr::from([10, 0, 0, 1]), IpAddr::from([10, 0, 0, 2]));
    for _ in 0..3 {
        assert!(login(&throttle, &gate, "bob", a, false));
    }
    assert!(
        !login(&throttle, &gate, "bob", a, true),
        "refused, right or not"
    );
    assert!(
        login(&throttle, &gate, "alice", a, false),
        "other names go on"
    );
    assert!(
        login(&throttle, &gate, "bob", b, true),
        "bob elsewhere gets in"
    );
    let wait = throttle.login_wait("bob", a);
    assert!(wait > 7 * SECOND && wait <= 8 * SECOND, "{wait:?}");
    // An invented name is treated the same way: the throttle never asks.
    for _ in 0..3 {
        assert!(login(&throttle, &gate, "nosuchuser", a, false));
    }
    assert!(!login(&throttle, &gate, "nosuchuser", a, false));
}

#[test]
fn a_correct_password_gives_its_tokens_back() {
    let (throttle, gate) = (Throttle::new(Limits::default()), HashGate::new(1));
    let a = IpAddr::from([10, 0, 0, 1]);
    // Far more correct logins from one address than its bucket holds.
    for _ in 0..100 {
        assert!(login(&throttle, &gate, "alice", a, true));
    }
    // Two typos, then the right password: the typos are forgiven.
    assert!(login(&throttle, &gate, "alice", a, false));
    assert!(login(&throttle, &gate, "alice", a, false));
    assert!(login(&throttle, &gate, "alice", a, true));
    for _ in 0..3 {
        assert!(login(&throttle, &gate, "alice", a, false));
    }
    assert!(!login(&throttle, &gate, "alice", a, false));
}

#[test]
fn one_address_cannot_exhaust_a_name_but_several_can() {
    let limits = Limits::default();
    let (throttle, gate) = (Throttle::new(limits), HashGate::new(1));
    let mut refused_by_name = 0;
    for i in 0..8u8 {
        let from = IpAddr::from([10, 0, 1, i]);
        for _ in 0..3 {
            if !login(&throttle, &gate, "bob", from, false) {
                refused_by_name += 1;
            }
        }
    }
    // Ten failures empty the name's bucket: from the fourth address on, refused.
    assert_eq!(refused_by_name, 8 * 3 - 10);
    assert!(!login(
        &throttle,
        &gate,
        "bob",
        IpAddr::from([10, 0, 2, 1]),
        true
    ));
}

#[test]
fn an_address_may_fail_thirty_times_then_once_a_second() {
    let (throttle, gate) = (Throttle::new(Limits::default()), HashGate::new(1));
    let a = IpAddr::from([10, 0, 0, 1]);
    let admitted = (0..100)
        .filter(|i| login(&throttle, &gate, &format!("nouser{i}"), a, false))
        .count();
    assert_eq!(admitted, 30);
    let other = IpAddr::from([10, 0, 0, 2]);
    assert!(login(&throttle, &gate, "nouser0", other, false));
}

#[test]
fn registrations_are_limited_per_address_and_only_created_accounts_count() {
    let limits = Limits {
        registrations: Rate::per_hour(2),
        ..Limits::default()
    };
    let (throttle, gate) = (Throttle::new(limits), HashGate::new(1));
    let (a, b) = (IpAddr::from([10, 0, 0, 1]), IpAddr::from([10, 0, 0, 2]));
    // Refused registrations (a taken name, say) give their token back.
    for _ in 0..5 {
        drop(throttle.admit_registration(&gate, a).unwrap());
    }
    throttle.admit_registration(&gate, a).unwrap().created();
    throttle.admit_registration(&gate, a).unwrap().created();
    let refusal = throttle.admit_registration(&gate, a).err().unwrap();
    assert_eq!(refusal.code, ErrorCode::Throttled);
    assert!(
        refusal.message.contains("at most 2 an hour")
            && refusal.message.contains("retry in 1800 s"),
        "{refusal}"
    );
    throttle.admit_registration(&gate, b).unwrap().created();
}

#[test]
fn parallel_attempts_cannot_overdraw_a_bucket() {
    let throttle = Throttle::new(Limits::default());
    let gate = HashGate::new(2);
    let a = IpAddr::from([10, 0, 0, 1]);
    let admitted = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..60 {
            scope.spawn(|| {
                for _ in 0..5 {
                    if let Ok(attempt) = throttle.admit_login(&gate, "bob", a) {
                        admitted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        drop(attempt);
                    }
                }
            });
        }
    });
    assert_eq!(admitted.into_inner(), 3);
}
