//! Outputs claimed by the jobs in flight, so that two inputs whose outputs would have the same
//! name (`x.wav` and `x.mp3` → `x.flac`) are not both processed at once: the first claims the
//! output, the other fails with a collision naming both.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The outputs being written by the jobs of one front end, and the source writing each.
#[derive(Debug, Default)]
pub struct Claims(Mutex<HashMap<String, String>>);

/// Why an output could not be claimed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Held {
    /// Another source is being written there.
    ByOther(String),
    /// The same source is being processed by another job (a message delivered twice).
    BySame,
}

/// An output claimed by one job, released when dropped.
#[derive(Debug)]
pub struct Claim {
    claims: Arc<Claims>,
    dest: String,
}

impl Claims {
    /// Claims `dest` for `source`.
    ///
    /// # Errors
    /// Who holds the claim.
    pub fn claim(self: &Arc<Self>, dest: &str, source: &str) -> Result<Claim, Held> {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match map.get(dest) {
            Some(other) if other != source => Err(Held::ByOther(other.clone())),
            Some(_) => Err(Held::BySame),
            None => {
                map.insert(dest.to_owned(), source.to_owned());
                Ok(Claim { claims: Arc::clone(self), dest: dest.to_owned() })
            }
        }
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.claims.0.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.dest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_output_is_held_by_one_source_until_its_job_ends() {
        let claims = Arc::new(Claims::default());
        let first = claims.claim("out/x.flac", "in/x.wav").unwrap();
        assert_eq!(claims.claim("out/x.flac", "in/x.mp3").unwrap_err(), Held::ByOther("in/x.wav".into()));
        assert_eq!(claims.claim("out/x.flac", "in/x.wav").unwrap_err(), Held::BySame);
        assert!(claims.claim("out/y.flac", "in/y.mp3").is_ok());
        drop(first);
        assert!(claims.claim("out/x.flac", "in/x.mp3").is_ok());
    }
}
