//! Hook output, logged line by line within bounds.

use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tracing::{debug, info};

use crate::{Stage, Stream};

/// The longest line of output logged; the rest of a longer line is counted, not logged.
/// No longer than what [`acme_core::printable`] prints whole.
pub(crate) const MAX_LINE_BYTES: usize = acme_core::MAX_REMOTE_TEXT;
/// The most lines logged per stream of one command; further lines are counted.
const MAX_LINES: usize = 100;

/// Logs one output stream of a hook line by line, within bounds: lines longer than
/// [`MAX_LINE_BYTES`] are shortened and say by how much, lines beyond [`MAX_LINES`] are
/// counted and the count is logged at the end. Reading goes on past the bounds so that the
/// hook never blocks on a full pipe.
pub(crate) struct OutputLog {
    stage: Stage,
    command: Arc<str>,
    stream: &'static str,
    /// The start of the current line, at most `MAX_LINE_BYTES`.
    line: Vec<u8>,
    /// Bytes of the current line beyond `line`.
    cut: usize,
    logged: usize,
    unlogged: usize,
}

impl OutputLog {
    /// A log of `stream` of `command`, run at `stage`.
    pub(crate) fn new(stage: Stage, command: Arc<str>, stream: Stream) -> OutputLog {
        OutputLog {
            stage,
            command,
            stream: stream.name(),
            line: Vec::new(),
            cut: 0,
            logged: 0,
            unlogged: 0,
        }
    }

    /// Logs what `reader` gives until it ends.
    pub(crate) async fn read(mut self, reader: impl AsyncRead + Unpin) {
        let mut reader = BufReader::new(reader);
        loop {
            let (consumed, line_ends) = match reader.fill_buf().await {
                Ok([]) => break,
                Ok(buf) => {
                    let newline = buf.iter().position(|&b| b == b'\n');
                    let part = &buf[..newline.unwrap_or(buf.len())];
                    let room = MAX_LINE_BYTES - self.line.len();
                    let kept = part.len().min(room);
                    self.line.extend_from_slice(&part[..kept]);
                    self.cut += part.len() - kept;
                    (newline.map_or(buf.len(), |at| at + 1), newline.is_some())
                }
                Err(error) => {
                    debug!(stream = self.stream, "cannot read hook output: {error}");
                    break;
                }
            };
            reader.consume(consumed);
            if line_ends {
                self.emit();
            }
        }
        if !self.line.is_empty() || self.cut > 0 {
            self.emit();
        }
        if self.unlogged > 0 {
            info!(
                stage = %self.stage,
                command = &*self.command,
                stream = self.stream,
                "… {} more lines of {} not logged",
                self.unlogged,
                self.stream
            );
        }
    }

    fn emit(&mut self) {
        if self.logged < MAX_LINES {
            let text = String::from_utf8_lossy(&self.line);
            let text = acme_core::printable(text.strip_suffix('\r').unwrap_or(&text));
            let more = match self.cut {
                0 => String::new(),
                cut => format!(" … ({cut} more bytes)"),
            };
            info!(stage = %self.stage, command = &*self.command, stream = self.stream, "{text}{more}");
            self.logged += 1;
        } else {
            self.unlogged += 1;
        }
        self.line.clear();
        self.cut = 0;
    }
}
