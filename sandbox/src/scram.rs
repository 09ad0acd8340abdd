//! The server side of SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677) for the sandbox's
//! brokers: the client's first message gets the salt, iteration count and combined nonce; its
//! final message is accepted when its proof matches the password, and answered with the server's
//! signature. No channel binding (`n,,`), as Kafka clients send.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256, Sha512};

const ITERATIONS: u32 = 4096;

/// The hash of one SCRAM mechanism.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sha {
    Sha256,
    Sha512,
}

impl Sha {
    pub fn of_mechanism(name: &str) -> Option<Self> {
        match name {
            "SCRAM-SHA-256" => Some(Self::Sha256),
            "SCRAM-SHA-512" => Some(Self::Sha512),
            _ => None,
        }
    }

    fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        match self {
            Self::Sha256 => match Hmac::<Sha256>::new_from_slice(key) {
                Ok(mut m) => {
                    m.update(data);
                    m.finalize().into_bytes().to_vec()
                }
                Err(_) => Vec::new(),
            },
            Self::Sha512 => match Hmac::<Sha512>::new_from_slice(key) {
                Ok(mut m) => {
                    m.update(data);
                    m.finalize().into_bytes().to_vec()
                }
                Err(_) => Vec::new(),
            },
        }
    }

    fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            Self::Sha256 => Sha256::digest(data).to_vec(),
            Self::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    /// PBKDF2 with this HMAC, one block (the output is as long as the hash).
    fn salted_password(self, password: &[u8], salt: &[u8]) -> Vec<u8> {
        let mut first = salt.to_vec();
        first.extend_from_slice(&1u32.to_be_bytes());
        let mut u = self.hmac(password, &first);
        let mut out = u.clone();
        for _ in 1..ITERATIONS {
            u = self.hmac(password, &u);
            for (o, b) in out.iter_mut().zip(&u) {
                *o ^= b;
            }
        }
        out
    }
}

/// Where a login stands between the client's two messages.
#[derive(Debug, Clone)]
pub struct Exchange {
    sha: Sha,
    /// `client-first-bare,server-first`, the start of the AuthMessage.
    first_messages: String,
    nonce: String,
    salted: Vec<u8>,
}

fn attribute(message: &str, name: char) -> Option<&str> {
    message.split(',').find_map(|part| part.strip_prefix(name).and_then(|p| p.strip_prefix('=')))
}

/// Answers the client's first message for `username`/`password`, or `None` when it is not one
/// (or names another user). `server_nonce` is appended to the client's nonce.
pub fn first(
    sha: Sha,
    client_first: &[u8],
    username: &str,
    password: &str,
    server_nonce: &str,
    salt: &[u8],
) -> Option<(Exchange, String)> {
    let text = std::str::from_utf8(client_first).ok()?;
    let bare = text.strip_prefix("n,,")?;
    let user = attribute(bare, 'n')?;
    let client_nonce = attribute(bare, 'r')?;
    if user != username {
        return None;
    }
    let nonce = format!("{client_nonce}{server_nonce}");
    let server_first = format!("r={nonce},s={},i={ITERATIONS}", STANDARD.encode(salt));
    let exchange = Exchange {
        sha,
        first_messages: format!("{bare},{server_first}"),
        nonce,
        salted: sha.salted_password(password.as_bytes(), salt),
    };
    Some((exchange, server_first))
}

/// Checks the client's final message; the server's final message when its proof is right.
pub fn last(exchange: &Exchange, client_final: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(client_final).ok()?;
    let (without_proof, proof) = text.rsplit_once(",p=")?;
    if attribute(without_proof, 'r')? != exchange.nonce {
        return None;
    }
    let proof = STANDARD.decode(proof).ok()?;
    let sha = exchange.sha;
    let auth_message = format!("{},{without_proof}", exchange.first_messages);
    let client_key = sha.hmac(&exchange.salted, b"Client Key");
    let stored_key = sha.hash(&client_key);
    let signature = sha.hmac(&stored_key, auth_message.as_bytes());
    if proof.len() != signature.len() {
        return None;
    }
    let recovered: Vec<u8> = proof.iter().zip(&signature).map(|(p, s)| p ^ s).collect();
    if sha.hash(&recovered) != stored_key {
        return None;
    }
    let server_key = sha.hmac(&exchange.salted, b"Server Key");
    Some(format!("v={}", STANDARD.encode(sha.hmac(&server_key, auth_message.as_bytes()))))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7677's SCRAM-SHA-256 example, end to end.
    #[test]
    fn the_rfc_7677_exchange_is_accepted_and_signed() {
        let salt = STANDARD.decode("W22ZaJ0SNY7soEsUEjb6gQ==").expect("salt");
        let (ex, server_first) = first(
            Sha::Sha256,
            b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
            "user",
            "pencil",
            "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
            &salt,
        )
        .expect("first");
        assert_eq!(
            server_first,
            "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
        );
        let client_final = b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
        assert_eq!(
            last(&ex, client_final).as_deref(),
            Some("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
        );
        let mut wrong = client_final.to_vec();
        let n = wrong.len();
        wrong[n - 3] = b'A';
        assert_eq!(last(&ex, &wrong), None);
    }
}
