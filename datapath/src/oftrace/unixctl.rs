//! A persistent client for an OVS daemon's control socket: the protocol
//! `ovs-appctl` speaks (JSON-RPC 1.0 over a unix socket: a request
//! `{"id":N,"method":"ofproto/trace","params":["br-int","in_port=3,.."]}`,
//! a reply `{"id":N,"result":"text","error":null}`), on one connection kept
//! open, so a trace costs a round trip instead of a process spawn.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

#[derive(Debug, thiserror::Error)]
pub enum UnixctlError {
    #[error("control socket {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("`{method}` on {path} failed: {message}")]
    Command {
        path: String,
        method: String,
        message: String,
    },
    #[error("control socket {path}: unexpected reply {reply}")]
    Protocol { path: String, reply: String },
}

/// One open connection to a daemon's `.ctl` socket.
pub struct Unixctl {
    path: PathBuf,
    stream: UnixStream,
    next_id: u64,
    /// Bytes read past the last reply (none in practice: replies are
    /// answered one at a time).
    buf: Vec<u8>,
}

/// How long one command may take before the client gives up.
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

impl Unixctl {
    pub fn connect(path: &Path) -> Result<Unixctl, UnixctlError> {
        let io = |source| UnixctlError::Io {
            path: path.display().to_string(),
            source,
        };
        let stream = UnixStream::connect(path).map_err(io)?;
        stream.set_read_timeout(Some(REPLY_TIMEOUT)).map_err(io)?;
        stream.set_write_timeout(Some(REPLY_TIMEOUT)).map_err(io)?;
        Ok(Unixctl {
            path: path.to_path_buf(),
            stream,
            next_id: 0,
            buf: Vec::new(),
        })
    }

    fn io(&self, source: std::io::Error) -> UnixctlError {
        UnixctlError::Io {
            path: self.path.display().to_string(),
            source,
        }
    }

    /// Runs `method params...` and returns its text result.
    pub fn call(&mut self, method: &str, params: &[&str]) -> Result<String, UnixctlError> {
        self.next_id += 1;
        let id = self.next_id;
        let request = json!({"id": id, "method": method, "params": params});
        let bytes = serde_json::to_vec(&request).map_err(|e| self.io(e.into()))?;
        self.stream.write_all(&bytes).map_err(|e| self.io(e))?;
        let reply = self.read_reply()?;
        let protocol = || UnixctlError::Protocol {
            path: self.path.display().to_string(),
            reply: reply.to_string(),
        };
        if reply.get("id") != Some(&json!(id)) {
            return Err(protocol());
        }
        match (reply.get("result"), reply.get("error")) {
            (_, Some(e)) if !e.is_null() => Err(UnixctlError::Command {
                path: self.path.display().to_string(),
                method: method.to_string(),
                message: e.as_str().map_or_else(|| e.to_string(), str::to_string),
            }),
            (Some(Value::String(s)), _) => Ok(s.clone()),
            _ => Err(protocol()),
        }
    }

    /// Reads until one whole JSON value has arrived.
    fn read_reply(&mut self) -> Result<Value, UnixctlError> {
        let mut chunk = [0u8; 64 * 1024];
        loop {
            if !self.buf.is_empty() {
                let mut values =
                    serde_json::Deserializer::from_slice(&self.buf).into_iter::<Value>();
                match values.next() {
                    Some(Ok(v)) => {
                        let used = values.byte_offset();
                        self.buf.drain(..used);
                        return Ok(v);
                    }
                    Some(Err(e)) if !e.is_eof() => {
                        return Err(UnixctlError::Protocol {
                            path: self.path.display().to_string(),
                            reply: format!("{e}: {}", String::from_utf8_lossy(&self.buf)),
                        });
                    }
                    _ => {}
                }
            }
            let n = self.stream.read(&mut chunk).map_err(|e| self.io(e))?;
            if n == 0 {
                return Err(self.io(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the daemon closed the connection",
                )));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}
