//! Public-key primitives for the server handshake: X25519 sealed boxes
//! (crypto_box's `seal`, XSalsa20-Poly1305 with an ephemeral sender key).
//!
//! Every random byte comes from the generator the caller passes in, so a
//! simulated handshake is as reproducible as the rest of a run.

use crypto_box::{PublicKey as BoxPublic, SecretKey};
use rand_core::CryptoRngCore;

pub const KEY_LEN: usize = 32;

/// A server's long-term key pair.
#[derive(Clone)]
pub struct KeyPair {
    secret: SecretKey,
    public: PublicKey,
}

/// A public key as the operator registry stores it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PublicKey(pub [u8; KEY_LEN]);

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for b in &self.0[..4] {
            write!(f, "{b:02x}")?;
        }
        f.write_str("…")
    }
}

impl KeyPair {
    pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
        let secret = SecretKey::generate(rng);
        let public = PublicKey(secret.public_key().to_bytes());
        KeyPair { secret, public }
    }

    pub fn public(&self) -> PublicKey {
        self.public
    }

    /// Opens a box sealed to this key pair; `None` when it was sealed to
    /// another key or tampered with.
    pub fn open(&self, sealed: &[u8]) -> Option<Vec<u8>> {
        self.secret.unseal(sealed).ok()
    }
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyPair({:?})", self.public)
    }
}

impl PublicKey {
    /// Seals `plaintext` so that only the holder of this key can read it.
    pub fn seal(&self, rng: &mut impl CryptoRngCore, plaintext: &[u8]) -> Vec<u8> {
        BoxPublic::from_bytes(self.0)
            .seal(rng, plaintext)
            .expect("sealing into a Vec cannot fail")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::rand_core::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn sealed_box_opens_only_with_the_right_key() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let a = KeyPair::generate(&mut rng);
        let b = KeyPair::generate(&mut rng);
        let sealed = a.public().seal(&mut rng, b"challenge");
        assert_eq!(a.open(&sealed).as_deref(), Some(&b"challenge"[..]));
        assert_eq!(b.open(&sealed), None);
        let mut tampered = sealed.clone();
        tampered[40] ^= 1;
        assert_eq!(a.open(&tampered), None);
    }

    #[test]
    fn same_seed_same_keys() {
        let k1 = KeyPair::generate(&mut ChaCha8Rng::seed_from_u64(9));
        let k2 = KeyPair::generate(&mut ChaCha8Rng::seed_from_u64(9));
        assert_eq!(k1.public(), k2.public());
    }
}
