//! RFC 6238 codes computed by the tests themselves, independently of the server's
//! implementation, from a secret read off an enrolment.

use hmac::{Hmac, Mac};

/// RFC 4648 base32 (no padding) decoded.
pub fn base32_decode(text: &str) -> Vec<u8> {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut out, mut buffer, mut bits) = (Vec::new(), 0u64, 0u32);
    for c in text.bytes().filter(|c| *c != b' ') {
        let value = alphabet.iter().position(|a| *a == c).expect("base32") as u64;
        buffer = (buffer << 5) | value;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    out
}

/// The code of `secret` at Unix time `secs`: HOTP over the 30 s (or `period`) counter.
pub fn totp(secret: &[u8], algorithm: &str, digits: u32, period: i64, secs: i64) -> String {
    let counter = (secs / period).to_be_bytes();
    let mac = match algorithm {
        "SHA1" => {
            let mut m = Hmac::<sha1::Sha1>::new_from_slice(secret).unwrap();
            m.update(&counter);
            m.finalize().into_bytes().to_vec()
        }
        "SHA256" => {
            let mut m = Hmac::<sha2::Sha256>::new_from_slice(secret).unwrap();
            m.update(&counter);
            m.finalize().into_bytes().to_vec()
        }
        _ => {
            let mut m = Hmac::<sha2::Sha512>::new_from_slice(secret).unwrap();
            m.update(&counter);
            m.finalize().into_bytes().to_vec()
        }
    };
    let at = (mac[mac.len() - 1] & 0xf) as usize;
    let value = u32::from_be_bytes([mac[at] & 0x7f, mac[at + 1], mac[at + 2], mac[at + 3]]);
    format!(
        "{:0width$}",
        value % 10u32.pow(digits),
        width = digits as usize
    )
}
