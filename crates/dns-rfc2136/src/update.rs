//! Building, signing and sending one RFC 2136 update, and reading the verdict.
//!
//! The message is signed here and sent as bytes over a plain socket rather than through
//! hickory-net's client: when BIND rejects a signature its NOTAUTH reply carries an unsigned
//! TSIG record, which the client reports as a misleading "truncated HMACs" protocol error.
//! Reading the reply ourselves turns it into the TSIG error the server actually sent.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hickory_proto::op::{Message, Query, ResponseCode, update_message};
use hickory_proto::rr::rdata::TXT;
use hickory_proto::rr::rdata::tsig::TsigError;
use hickory_proto::rr::{Name, RData, Record, RecordSet, RecordType, TSigVerifier, TSigner};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

use crate::{Error, Protocol};

/// How long to wait for one reply before sending again (UDP) or giving up (TCP).
const REPLY_TIMEOUT: Duration = Duration::from_secs(3);
/// How many times a UDP update is sent before giving up.
const UDP_ATTEMPTS: usize = 3;
/// The largest UDP reply accepted.
const MAX_UDP_REPLY: usize = 4096;

/// Whether an update adds or removes the value.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Change {
    Append,
    Delete,
}

/// Sends signed updates to one server.
pub(crate) struct UpdateClient {
    pub(crate) server: SocketAddr,
    pub(crate) protocol: Protocol,
    pub(crate) signer: TSigner,
    pub(crate) key_name: String,
}

impl UpdateClient {
    /// Adds or removes one TXT value at `fqdn` in `zone`, and checks the server's verdict.
    pub(crate) async fn update(
        &self,
        change: Change,
        zone: &str,
        fqdn: &str,
        value: &str,
    ) -> Result<(), Error> {
        let name_error = |reason: String| Error::Name {
            zone: zone.to_string(),
            fqdn: fqdn.to_string(),
            reason,
        };
        let zone_name = Name::from_ascii(format!("{zone}."))
            .map_err(|e| name_error(format!("invalid zone name: {e}")))?;
        let record_name = Name::from_ascii(format!("{fqdn}."))
            .map_err(|e| name_error(format!("invalid record name: {e}")))?;
        if !zone_name.zone_of(&record_name) {
            return Err(name_error("the record is not inside the zone".into()));
        }
        let record = Record::from_rdata(
            record_name,
            acme_core::CHALLENGE_TTL,
            RData::TXT(TXT::new(vec![value.to_string()])),
        );
        let rrset = RecordSet::from(record);
        let mut message = match change {
            Change::Append => update_message::append(rrset, zone_name, false, false),
            Change::Delete => update_message::delete_by_rdata(rrset, zone_name, false),
        };
        let (reply, reply_bytes, verifier) = self.exchange_signed(&mut message, zone).await?;
        match reply.response_code {
            ResponseCode::NoError => self.verify(zone, verifier, &reply_bytes),
            ResponseCode::NotAuth
            | ResponseCode::BADSIG
            | ResponseCode::BADKEY
            | ResponseCode::BADTIME => Err(self.not_auth(zone, &reply)),
            ResponseCode::Refused => Err(Error::Refused {
                server: self.server,
                zone: zone.to_string(),
                key: self.key_name.clone(),
            }),
            other => Err(Error::Rejected {
                server: self.server,
                zone: zone.to_string(),
                fqdn: fqdn.to_string(),
                rcode: other.to_str().to_string(),
            }),
        }
    }

    /// Asks for the SOA of `zone` in a TSIG-signed query: a NOERROR answer signed by the
    /// server proves that it knows the key and that the secret is right, and changes nothing.
    pub(crate) async fn check_key(&self, zone: &str) -> Result<(), Error> {
        let zone_name = Name::from_ascii(format!("{zone}.")).map_err(|e| Error::Name {
            zone: zone.to_string(),
            fqdn: zone.to_string(),
            reason: format!("invalid zone name: {e}"),
        })?;
        let mut message = Message::query();
        message.metadata.recursion_desired = false;
        message.add_query(Query::query(zone_name, RecordType::SOA));
        let (reply, reply_bytes, verifier) = self.exchange_signed(&mut message, zone).await?;
        match reply.response_code {
            ResponseCode::NoError => self.verify(zone, verifier, &reply_bytes),
            ResponseCode::NotAuth
            | ResponseCode::BADSIG
            | ResponseCode::BADKEY
            | ResponseCode::BADTIME => Err(self.not_auth(zone, &reply)),
            other => Err(Error::Transport {
                server: self.server,
                zone: zone.to_string(),
                reason: format!(
                    "the signed SOA query was answered {}: is the server authoritative for the zone?",
                    other.to_str()
                ),
            }),
        }
    }

    /// Signs `message`, sends it and reads the reply, keeping its bytes and the verifier
    /// of its signature.
    async fn exchange_signed(
        &self,
        message: &mut Message,
        zone: &str,
    ) -> Result<(Message, Vec<u8>, Option<TSigVerifier>), Error> {
        let transport = |reason: String| Error::Transport {
            server: self.server,
            zone: zone.to_string(),
            reason,
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|_| transport("the system clock is before 1970".into()))?
            .as_secs();
        let verifier = message
            .finalize(&self.signer, now)
            .map_err(|e| transport(format!("signing the update: {e}")))?;
        let request = message
            .to_vec()
            .map_err(|e| transport(format!("encoding the update: {e}")))?;
        let reply_bytes = self
            .exchange(message.id, &request)
            .await
            .map_err(transport)?;
        let reply = Message::from_vec(&reply_bytes)
            .map_err(|e| transport(format!("malformed reply: {e}")))?;
        Ok((reply, reply_bytes, verifier))
    }

    /// Checks the TSIG signature of a NOERROR reply: an unsigned or forged one may not come
    /// from the server.
    fn verify(
        &self,
        zone: &str,
        verifier: Option<TSigVerifier>,
        reply_bytes: &[u8],
    ) -> Result<(), Error> {
        let Some(mut verifier) = verifier else {
            return Err(Error::Transport {
                server: self.server,
                zone: zone.to_string(),
                reason: "the update could not be signed".into(),
            });
        };
        verifier
            .verify(reply_bytes)
            .map_err(|e| Error::UnverifiedReply {
                server: self.server,
                zone: zone.to_string(),
                reason: e.to_string(),
            })?;
        Ok(())
    }

    /// Tells a TSIG failure (the error in the reply's TSIG record) from a server that is not
    /// authoritative for the zone (a NOTAUTH without TSIG error).
    fn not_auth(&self, zone: &str, reply: &Message) -> Error {
        let tsig_error = reply.signature().and_then(|record| record.data.error);
        let server = self.server;
        let zone = zone.to_string();
        match (tsig_error, reply.response_code) {
            (Some(TsigError::BadKey), _) | (_, ResponseCode::BADKEY) => Error::UnknownKey {
                server,
                zone,
                key: self.key_name.clone(),
            },
            (Some(TsigError::BadTime), _) | (_, ResponseCode::BADTIME) => {
                Error::BadTime { server, zone }
            }
            (Some(_), _) | (_, ResponseCode::BADSIG) => Error::BadSignature {
                server,
                zone,
                key: self.key_name.clone(),
            },
            (None, _) => Error::NotAuthoritative { server, zone },
        }
    }

    /// Sends the request and returns the reply's bytes.
    async fn exchange(&self, id: u16, request: &[u8]) -> Result<Vec<u8>, String> {
        match self.protocol {
            Protocol::Tcp => self.exchange_tcp(request).await,
            Protocol::Udp => match self.exchange_udp(id, request).await? {
                UdpReply::Complete(bytes) => Ok(bytes),
                UdpReply::Truncated => self.exchange_tcp(request).await,
            },
        }
    }

    async fn exchange_udp(&self, id: u16, request: &[u8]) -> Result<UdpReply, String> {
        let local: SocketAddr = if self.server.is_ipv4() {
            (Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let socket = UdpSocket::bind(local)
            .await
            .map_err(|e| format!("opening a UDP socket: {e}"))?;
        socket
            .connect(self.server)
            .await
            .map_err(|e| format!("connecting: {e}"))?;
        let mut buffer = vec![0; MAX_UDP_REPLY];
        for _ in 0..UDP_ATTEMPTS {
            socket
                .send(request)
                .await
                .map_err(|e| format!("sending: {e}"))?;
            let deadline = tokio::time::Instant::now() + REPLY_TIMEOUT;
            loop {
                match tokio::time::timeout_at(deadline, socket.recv(&mut buffer)).await {
                    Err(_) => break,
                    Ok(Err(e)) => return Err(format!("receiving: {e}")),
                    Ok(Ok(len)) => {
                        let reply = &buffer[..len];
                        // A reply to an earlier try or a stray packet: keep waiting.
                        if len < 4 || u16::from_be_bytes([reply[0], reply[1]]) != id {
                            continue;
                        }
                        if reply[2] & 0x02 != 0 {
                            return Ok(UdpReply::Truncated);
                        }
                        return Ok(UdpReply::Complete(reply.to_vec()));
                    }
                }
            }
        }
        Err(format!(
            "no reply after {UDP_ATTEMPTS} tries {} s apart (is a DNS server listening there?)",
            REPLY_TIMEOUT.as_secs()
        ))
    }

    async fn exchange_tcp(&self, request: &[u8]) -> Result<Vec<u8>, String> {
        let exchange = async {
            let mut stream = TcpStream::connect(self.server)
                .await
                .map_err(|e| format!("connecting over TCP: {e}"))?;
            let len =
                u16::try_from(request.len()).map_err(|_| "the update is too large".to_string())?;
            let mut framed = Vec::with_capacity(request.len() + 2);
            framed.extend_from_slice(&len.to_be_bytes());
            framed.extend_from_slice(request);
            stream
                .write_all(&framed)
                .await
                .map_err(|e| format!("sending over TCP: {e}"))?;
            let reply_len = stream
                .read_u16()
                .await
                .map_err(|e| format!("receiving over TCP: {e}"))?;
            let mut reply = vec![0; usize::from(reply_len)];
            stream
                .read_exact(&mut reply)
                .await
                .map_err(|e| format!("receiving over TCP: {e}"))?;
            Ok(reply)
        };
        tokio::time::timeout(REPLY_TIMEOUT * 2, exchange)
            .await
            .map_err(|_| format!("no reply over TCP within {:?}", REPLY_TIMEOUT * 2))?
    }
}

enum UdpReply {
    Complete(Vec<u8>),
    Truncated,
}
