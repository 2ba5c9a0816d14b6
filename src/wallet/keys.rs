//! Making pay keys: random, unguessable, unique among live keys.
//!
//! Why the operating system's CSPRNG (`getrandom`): a key is a bearer address, and
//! anyone who can predict the next key can race its owner's friends to it. Seed 001's
//! `hash(randint(10, 1000))` had fewer than a thousand values; a general-purpose
//! generator seeded from the clock is predictable from a few outputs. 80 bits from
//! `getrandom` cannot be guessed: trying a million keys a second, a guesser with
//! 10,000 live keys to hit would need about 4 million years per success.
//!
//! Why still check uniqueness: at 80 bits two live keys coincide with a probability of
//! about n^2 / 2^81 (for a million wallets, about one in two trillion), but "probably unique"
//! is not a property a payment system should rest on, and the check is cheap. It runs
//! under the `wallets` write lock, which every key change holds, so no other thread can
//! hand out the same key between the check and the use.

use std::collections::BTreeMap;

use crate::db::schema::Wallet;
use crate::error::{Error, Result};
use crate::protocol::PayKey;
use crate::protocol::pay_key::PAY_KEY_BYTES;

/// How many fresh keys to try before giving up. Reaching it means the generator is
/// broken (it returns the same bytes), not bad luck.
const ATTEMPTS: usize = 8;

/// A key made of 80 bits from the operating system's CSPRNG.
pub fn random_key() -> Result<PayKey> {
    let mut bytes = [0u8; PAY_KEY_BYTES];
    getrandom::fill(&mut bytes)
        .map_err(|e| Error::Other(format!("the operating system gave no random bytes: {e}")))?;
    Ok(PayKey::from_bytes(bytes))
}

/// A random key that no wallet in `wallets` holds.
///
/// Call it with the `wallets` write lock held (a `TableWrite` derefs to the map), and
/// use the key before releasing it. This is a linear scan of the wallets: a few
/// microseconds for a classroom's thousands; a bank would keep a second index.
pub fn unique_key(wallets: &BTreeMap<String, Wallet>) -> Result<PayKey> {
    for _ in 0..ATTEMPTS {
        let key = random_key()?;
        if !wallets.values().any(|w| w.pay_key == key) {
            return Ok(key);
        }
        log::warn!("a fresh pay key collided with a live one; drawing another");
    }
    Err(Error::Other(format!(
        "{ATTEMPTS} random pay keys in a row were already taken: the random generator is broken"
    )))
}

/// The wallet that holds this key, if any.
pub fn holder<'a>(wallets: &'a BTreeMap<String, Wallet>, key: &PayKey) -> Option<&'a Wallet> {
    wallets.values().find(|w| w.pay_key == *key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Cents;
    use std::time::UNIX_EPOCH;

    #[test]
    fn random_keys_differ() {
        let keys: std::collections::HashSet<PayKey> =
            (0..1000).map(|_| random_key().unwrap()).collect();
        assert_eq!(keys.len(), 1000);
    }

    #[test]
    fn a_unique_key_is_not_held_and_holder_finds_keys() {
        let mut wallets = BTreeMap::new();
        for (id, name) in [(1, "alice"), (2, "bob")] {
            wallets.insert(
                name.to_string(),
                Wallet {
                    user: name.into(),
                    account: crate::db::schema::AccountId(id),
                    balance: Cents(0),
                    pay_key: random_key().unwrap(),
                    key_expires_at: UNIX_EPOCH,
                },
            );
        }
        let key = unique_key(&wallets).unwrap();
        assert!(holder(&wallets, &key).is_none());
        let bobs = wallets["bob"].pay_key;
        assert_eq!(
            holder(&wallets, &bobs).map(|w| w.user.as_str()),
            Some("bob")
        );
    }
}
