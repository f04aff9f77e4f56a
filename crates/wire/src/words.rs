//! ZooKeeper's four-letter words on the client port: a connection whose first four bytes spell
//! one of them (instead of a frame length) gets the command's text and is closed.

/// Every word ZooKeeper 3.9 knows, as the int its four bytes make.
pub const WORDS: &[&str] = &[
    "conf", "cons", "crst", "dump", "envi", "gtmk", "ruok", "stmk", "srst", "srvr", "stat", "wchc",
    "wchp", "wchs", "mntr", "isro", "hash", "dirs",
];

/// The word the first four bytes of a connection spell, if they spell one.
pub fn word(first: [u8; 4]) -> Option<&'static str> {
    WORDS.iter().copied().find(|w| w.as_bytes() == first)
}

/// Runs four-letter words for the wire gateway (the node implements it with the same code that
/// serves them over gRPC, so both ports print the same text).
pub trait FourLetterWords: Send + Sync + 'static {
    /// The text to send back for `word` (one of [`WORDS`]): the command's output, or
    /// ZooKeeper's refusal (`<word> is not executed because it is not in the whitelist.`).
    /// May block (it is called on tokio's blocking pool).
    fn run(&self, word: &str) -> String;

    /// `stmk` with the mask the client sent after the word (8 bytes, big-endian): the mask as
    /// ZooKeeper prints it back, or the whitelist refusal. May block, as [`run`](Self::run).
    fn set_trace_mask(&self, mask: i64) -> String {
        let _ = mask;
        self.run("stmk")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_recognised_from_their_bytes() {
        assert_eq!(word(*b"ruok"), Some("ruok"));
        assert_eq!(word(*b"mntr"), Some("mntr"));
        assert_eq!(word([0, 0, 0, 45]), None);
        // Every word, read as a frame length, is far beyond any sane frame: no real frame can be
        // mistaken for one.
        for w in WORDS {
            let b: [u8; 4] = w.as_bytes().try_into().unwrap();
            assert!(i32::from_be_bytes(b) > 0x5000_0000);
        }
    }
}
