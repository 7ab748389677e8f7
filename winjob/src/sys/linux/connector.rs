//! The proc connector: a `NETLINK_CONNECTOR` socket subscribed to process
//! events (`fork`, `exec`, `exit` of every process on the system; root, or
//! any user since Linux 6.6), and the wire format of its messages
//! (`linux/connector.h`, `linux/cn_proc.h`).
//!
//! One socket serves every watched job of the process (the engine, in
//! `engine.rs`, owns it): the kernel copies each event once per socket, so a
//! socket per job would make every fork on the machine cost once per job.

use std::io;
use std::os::fd::OwnedFd;

use rustix::net::netlink;

use crate::event::ProcessExit;

/// The connector socket's receive buffer: it holds every process event of
/// the system until the engine reads it, and a fork storm elsewhere must not
/// overflow it while the engine waits for a CPU. Asked with `SO_RCVBUFFORCE`
/// (needs `CAP_NET_ADMIN`), else `SO_RCVBUF` (capped at `net.core.rmem_max`).
const CONNECTOR_BUFFER: usize = 4 << 20;

/// How a wait status from the connector ended the process.
pub(crate) fn decode_status(status: u32) -> ProcessExit {
    let signal = status & 0x7f;
    if signal == 0 {
        ProcessExit::Code((status >> 8) & 0xff)
    } else {
        ProcessExit::Signal(i32::try_from(signal).unwrap_or(0))
    }
}

// The proc connector's wire format (linux/connector.h, linux/cn_proc.h), in
// host byte order: nlmsghdr (16 bytes), cn_msg (20 bytes), then the payload.
const NLMSG_HEADER: usize = 16;
const CN_MSG_HEADER: usize = 20;
const NLMSG_DONE: u16 = 3;
const CN_IDX_PROC: u32 = 1;
const CN_VAL_PROC: u32 = 1;
const PROC_CN_MCAST_LISTEN: u32 = 1;
const PROC_EVENT_FORK: u32 = 0x1;
const PROC_EVENT_EXIT: u32 = 0x8000_0000;

/// Opens a connector socket subscribed to process events.
pub(crate) fn open() -> io::Result<OwnedFd> {
    let socket = rustix::net::socket_with(
        rustix::net::AddressFamily::NETLINK,
        rustix::net::SocketType::DGRAM,
        rustix::net::SocketFlags::CLOEXEC,
        Some(netlink::CONNECTOR),
    )?;
    rustix::net::bind(&socket, &netlink::SocketAddrNetlink::new(0, CN_IDX_PROC))?;
    if rustix::net::sockopt::set_socket_recv_buffer_size_force(&socket, CONNECTOR_BUFFER).is_err() {
        // Best effort: the default buffer works, it only overflows sooner
        // (and an overflow is reported as `MessagesLost`).
        let _ = rustix::net::sockopt::set_socket_recv_buffer_size(&socket, CONNECTOR_BUFFER);
    }
    // Since Linux 6.6 a listener can name the events it wants (`struct
    // proc_input`): only forks and exits, so that the execs, renames and
    // id changes of the whole system never reach the socket. Before, a
    // payload of that size is ignored (no subscription), so the plain
    // `PROC_CN_MCAST_LISTEN` is sent there.
    let mut payload = PROC_CN_MCAST_LISTEN.to_ne_bytes().to_vec();
    if kernel_at_least(6, 6) {
        payload.extend_from_slice(&(PROC_EVENT_FORK | PROC_EVENT_EXIT).to_ne_bytes());
    }
    let mut message = Vec::with_capacity(NLMSG_HEADER + CN_MSG_HEADER + payload.len());
    let total = u32::try_from(NLMSG_HEADER + CN_MSG_HEADER + payload.len()).unwrap_or(40);
    message.extend_from_slice(&total.to_ne_bytes()); // nlmsg_len
    message.extend_from_slice(&NLMSG_DONE.to_ne_bytes()); // nlmsg_type
    message.extend_from_slice(&0u16.to_ne_bytes()); // nlmsg_flags
    message.extend_from_slice(&0u32.to_ne_bytes()); // nlmsg_seq
    message.extend_from_slice(&std::process::id().to_ne_bytes()); // nlmsg_pid
    message.extend_from_slice(&CN_IDX_PROC.to_ne_bytes()); // cn_msg.id.idx
    message.extend_from_slice(&CN_VAL_PROC.to_ne_bytes()); // cn_msg.id.val
    message.extend_from_slice(&0u32.to_ne_bytes()); // seq
    message.extend_from_slice(&0u32.to_ne_bytes()); // ack
    let len = u16::try_from(payload.len()).unwrap_or(4);
    message.extend_from_slice(&len.to_ne_bytes()); // len
    message.extend_from_slice(&0u16.to_ne_bytes()); // flags
    message.extend_from_slice(&payload);
    rustix::net::send(&socket, &message, rustix::net::SendFlags::empty())?;
    Ok(socket)
}

/// True if the running kernel is `major.minor` or later (from `uname`).
fn kernel_at_least(major: u32, minor: u32) -> bool {
    let uname = rustix::system::uname();
    let release = uname.release().to_string_lossy();
    let mut parts = release
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|p| p.parse::<u32>().ok());
    match (parts.next(), parts.next()) {
        (Some(a), Some(b)) => (a, b) >= (major, minor),
        _ => false,
    }
}

/// One decoded process event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProcEvent {
    Fork {
        parent_tgid: u32,
        child_pid: u32,
        child_tgid: u32,
    },
    Exit {
        pid: u32,
        tgid: u32,
        status: u32,
    },
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

/// The process events in one datagram (which may hold several netlink
/// messages).
pub(crate) fn parse(mut bytes: &[u8]) -> Vec<ProcEvent> {
    let mut events = Vec::new();
    while bytes.len() >= NLMSG_HEADER {
        let Some(len) = u32_at(bytes, 0).and_then(|l| usize::try_from(l).ok()) else {
            break;
        };
        if len < NLMSG_HEADER || len > bytes.len() {
            break;
        }
        let payload = &bytes[NLMSG_HEADER..len];
        // cn_msg, then proc_event: what, cpu, timestamp (u64), event data.
        let data = CN_MSG_HEADER + 16;
        let event = match u32_at(payload, CN_MSG_HEADER) {
            Some(PROC_EVENT_FORK) => (|| {
                Some(ProcEvent::Fork {
                    parent_tgid: u32_at(payload, data + 4)?,
                    child_pid: u32_at(payload, data + 8)?,
                    child_tgid: u32_at(payload, data + 12)?,
                })
            })(),
            Some(PROC_EVENT_EXIT) => (|| {
                Some(ProcEvent::Exit {
                    pid: u32_at(payload, data)?,
                    tgid: u32_at(payload, data + 4)?,
                    status: u32_at(payload, data + 8)?,
                })
            })(),
            _ => None,
        };
        events.extend(event);
        // Messages are aligned to 4 bytes.
        let next = (len + 3) & !3;
        bytes = bytes.get(next..).unwrap_or(&[]);
    }
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(what: u32, data: &[u32]) -> Vec<u8> {
        let mut payload = Vec::new();
        payload.extend_from_slice(&[0u8; CN_MSG_HEADER]);
        payload.extend_from_slice(&what.to_ne_bytes());
        payload.extend_from_slice(&0u32.to_ne_bytes());
        payload.extend_from_slice(&0u64.to_ne_bytes());
        for d in data {
            payload.extend_from_slice(&d.to_ne_bytes());
        }
        let len = u32::try_from(NLMSG_HEADER + payload.len()).unwrap();
        let mut m = Vec::new();
        m.extend_from_slice(&len.to_ne_bytes());
        m.extend_from_slice(&[0u8; 12]);
        m.extend_from_slice(&payload);
        while m.len() % 4 != 0 {
            m.push(0);
        }
        m
    }

    #[test]
    fn connector_messages_decode() {
        let mut bytes = message(PROC_EVENT_FORK, &[10, 10, 11, 11]);
        bytes.extend(message(0x2, &[11, 11])); // exec: not needed, ignored
        bytes.extend(message(PROC_EVENT_EXIT, &[11, 11, 3 << 8, 17, 10, 10]));
        bytes.extend(message(0x4, &[1, 2, 3])); // uid change: ignored
        assert_eq!(
            parse(&bytes),
            [
                ProcEvent::Fork {
                    parent_tgid: 10,
                    child_pid: 11,
                    child_tgid: 11
                },
                ProcEvent::Exit {
                    pid: 11,
                    tgid: 11,
                    status: 3 << 8
                },
            ]
        );
        assert!(parse(&bytes[..10]).is_empty());
    }

    #[test]
    fn wait_statuses_decode() {
        assert_eq!(decode_status(3 << 8), ProcessExit::Code(3));
        assert_eq!(decode_status(9), ProcessExit::Signal(9));
        assert_eq!(decode_status(0x80 | 11), ProcessExit::Signal(11));
    }
}
