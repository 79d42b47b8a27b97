//! The SASL strings that carry a bearer token: Google's and Microsoft's
//! `XOAUTH2`, and RFC 7628 `OAUTHBEARER`. Both are sent base64-encoded by
//! the protocol (IMAP AUTHENTICATE, SMTP AUTH); these are the raw bytes.

/// `user=<user>^Aauth=Bearer <token>^A^A`
pub fn xoauth2(user: &str, token: &str) -> String {
    format!("user={user}\x01auth=Bearer {token}\x01\x01")
}

/// `n,a=<user>,^Ahost=<host>^Aport=<port>^Aauth=Bearer <token>^A^A`
/// (RFC 7628 §3.1; the authorization identity escaped as RFC 5801 asks).
pub fn oauthbearer(user: &str, host: &str, port: u16, token: &str) -> String {
    let user = user.replace('=', "=3D").replace(',', "=2C");
    format!("n,a={user},\x01host={host}\x01port={port}\x01auth=Bearer {token}\x01\x01")
}

/// What a client answers to a server's error challenge in OAUTHBEARER
/// (RFC 7628 §3.2.3): a lone ^A, after which the server fails the
/// exchange with its final reply.
pub const OAUTHBEARER_ABORT: &str = "\x01";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_as_the_specifications_write_them() {
        // Google's XOAUTH2 example.
        assert_eq!(
            xoauth2(
                "someuser@example.com",
                "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg"
            ),
            "user=someuser@example.com\x01auth=Bearer ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg\x01\x01"
        );
        // RFC 7628 §4.1.
        assert_eq!(
            oauthbearer(
                "user@example.com",
                "server.example.com",
                143,
                "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg=="
            ),
            "n,a=user@example.com,\x01host=server.example.com\x01port=143\x01auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01"
        );
        assert!(oauthbearer("a,b=c@d", "h", 1, "t").starts_with("n,a=a=2Cb=3Dc@d,"));
    }
}
