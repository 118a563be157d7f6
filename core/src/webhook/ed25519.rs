//! Ed25519 keys and strict verification, shared by `discord` and the
//! asymmetric form of `standard` (`v1a`).
//!
//! Security properties:
//! - Verification is `ed25519-dalek`'s `verify_strict`: the scalar `S` must be
//!   canonical (`S < L`), and neither the public key nor the signature's `R`
//!   may be a small-order point. That is libsodium's rule (PyNaCl, the
//!   library `discord-interactions` uses in Python), which `tweetnacl` only
//!   partly applies; a signature neither accepts is never accepted here.
//! - A public key must be a canonical encoding of a point of large order; a
//!   small-order ("weak") key, with which anyone can forge signatures, is a
//!   configuration error, not a key that rejects everything later.
//! - Signing keys live only inside `SigningKey`, which wipes itself on drop;
//!   `Debug` never prints them.

use std::fmt;

use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use zeroize::Zeroizing;

use super::error::WebhookConfigError;
use super::secret::random_bytes;

/// Bytes of a public key, of a seed, and of a signature.
pub(crate) const PUBLIC_LEN: usize = 32;
pub(crate) const SEED_LEN: usize = 32;
pub(crate) const SIGNATURE_LEN: usize = 64;

/// A public key that passed the strictness checks.
#[derive(Clone)]
pub(crate) struct PublicKey(VerifyingKey);

impl PublicKey {
    /// The replay guard's name for this key, the same in every process. A
    /// public key is no secret, so a plain hash of it (with the scheme, so
    /// two schemes sharing one key keep apart) is enough.
    pub(crate) fn replay_identity(&self, scheme: super::scheme::Scheme) -> [u8; 32] {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(b"gatepass replay-guard identity v1 ed25519\0");
        h.update(scheme.as_str().as_bytes());
        h.update(self.0.as_bytes());
        h.finalize().into()
    }

    pub(crate) fn from_bytes(bytes: &[u8]) -> Result<Self, WebhookConfigError> {
        let bytes: &[u8; PUBLIC_LEN] =
            bytes
                .try_into()
                .map_err(|_| WebhookConfigError::InvalidSecret {
                    reason: "an Ed25519 public key is 32 bytes",
                })?;
        let key =
            VerifyingKey::from_bytes(bytes).map_err(|_| WebhookConfigError::InvalidSecret {
                reason: "not an Ed25519 public key",
            })?;
        // A non-canonical encoding names the same point as a canonical one;
        // libsodium refuses such keys, and so do we.
        if key.to_edwards().compress().to_bytes() != *bytes || key.is_weak() {
            return Err(WebhookConfigError::InvalidSecret {
                reason: "not a usable Ed25519 public key (non-canonical or small order)",
            });
        }
        Ok(Self(key))
    }

    /// Strict verification of `signature` over `message`.
    pub(crate) fn verify(&self, message: &[u8], signature: &[u8; SIGNATURE_LEN]) -> bool {
        let sig = Signature::from_bytes(signature);
        self.0.verify_strict(message, &sig).is_ok()
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Public, but printing it helps no one read a log.
        f.write_str("PublicKey(..)")
    }
}

/// A signing key (for senders and tests of receivers).
pub(crate) struct PrivateKey(SigningKey);

impl PrivateKey {
    /// From a 32-byte seed, or the 64-byte `seed || public key` form that
    /// libsodium, tweetnacl and Go's `crypto/ed25519` call the secret key (the
    /// public half must then match the seed).
    pub(crate) fn from_bytes(bytes: &[u8]) -> Result<Self, WebhookConfigError> {
        let key = match bytes.len() {
            SEED_LEN => {
                let mut seed = Zeroizing::new([0u8; SEED_LEN]);
                seed.copy_from_slice(bytes);
                SigningKey::from_bytes(&seed)
            }
            64 => {
                let mut pair = Zeroizing::new([0u8; 64]);
                pair.copy_from_slice(bytes);
                SigningKey::from_keypair_bytes(&pair).map_err(|_| {
                    WebhookConfigError::InvalidSecret {
                        reason: "the public half of the Ed25519 key pair does not match its seed",
                    }
                })?
            }
            _ => {
                return Err(WebhookConfigError::InvalidSecret {
                    reason: "an Ed25519 private key is a 32-byte seed or a 64-byte key pair",
                })
            }
        };
        Ok(Self(key))
    }

    pub(crate) fn generate() -> Result<Self, WebhookConfigError> {
        let mut seed = Zeroizing::new([0u8; SEED_LEN]);
        random_bytes(&mut seed[..])?;
        Ok(Self(SigningKey::from_bytes(&seed)))
    }

    pub(crate) fn sign(&self, message: &[u8]) -> [u8; SIGNATURE_LEN] {
        self.0.sign(message).to_bytes()
    }

    pub(crate) fn public(&self) -> [u8; PUBLIC_LEN] {
        self.0.verifying_key().to_bytes()
    }

    /// `seed || public key`, the 64-byte form.
    pub(crate) fn keypair_bytes(&self) -> Zeroizing<[u8; 64]> {
        Zeroizing::new(self.0.to_keypair_bytes())
    }

    pub(crate) fn seed(&self) -> Zeroizing<[u8; SEED_LEN]> {
        Zeroizing::new(self.0.to_bytes())
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PrivateKey([redacted])")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    /// RFC 8032 §7.1, test 2 (one-byte message 0x72).
    const SEED: &str = "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb";
    const PUBLIC: &str = "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c";
    const SIG: &str = "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da\
                       085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00";

    fn sig() -> [u8; 64] {
        hex::decode(SIG).unwrap().try_into().unwrap()
    }

    #[test]
    fn rfc8032_vector() {
        let sk = PrivateKey::from_bytes(&hex::decode(SEED).unwrap()).unwrap();
        assert_eq!(hex::encode(sk.public()), PUBLIC);
        assert_eq!(sk.sign(&[0x72]), sig());
        let pk = PublicKey::from_bytes(&hex::decode(PUBLIC).unwrap()).unwrap();
        assert!(pk.verify(&[0x72], &sig()));
        assert!(!pk.verify(&[0x73], &sig()));
        let pair = sk.keypair_bytes();
        assert_eq!(
            PrivateKey::from_bytes(&pair[..]).unwrap().public(),
            sk.public()
        );
        let mut bad = *pair;
        bad[63] ^= 1;
        assert!(PrivateKey::from_bytes(&bad).is_err());
    }

    #[test]
    fn non_canonical_s_is_rejected() {
        // S + L verifies under a lax check; strict verification refuses it.
        const L: [u8; 32] = [
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9,
            0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ];
        let mut s = sig();
        let mut carry = 0u16;
        for i in 0..32 {
            let v = u16::from(s[32 + i]) + u16::from(L[i]) + carry;
            s[32 + i] = (v & 0xff) as u8;
            carry = v >> 8;
        }
        let pk = PublicKey::from_bytes(&hex::decode(PUBLIC).unwrap()).unwrap();
        assert!(!pk.verify(&[0x72], &s));
    }

    #[test]
    fn small_order_and_non_canonical_keys_are_config_errors() {
        // The identity (small order), a point of order 8, and a non-canonical
        // encoding of the identity (y = p + 1).
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let order8 =
            hex::decode("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a")
                .unwrap();
        let mut non_canonical = [0xffu8; 32];
        non_canonical[0] = 0xee;
        non_canonical[31] = 0x7f;
        for key in [
            &identity[..],
            &order8[..],
            &non_canonical[..],
            &[0u8; 31][..],
        ] {
            let err = PublicKey::from_bytes(key).unwrap_err();
            assert_eq!(err.code(), "config_error");
        }
    }

    #[test]
    fn debug_is_redacted() {
        let sk = PrivateKey::from_bytes(&hex::decode(SEED).unwrap()).unwrap();
        assert_eq!(format!("{sk:?}"), "PrivateKey([redacted])");
    }
}
