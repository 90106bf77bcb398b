//! The table as one libnftnl batch, one kernel transaction: no moment with
//! half a rule set, and every other table left alone.
//!
//! The base chains are created once and then kept: each batch adds them
//! (a no-op when they exist), flushes them and fills them again. Deleting
//! and re-creating a nat base chain would make the kernel drop the NAT
//! bindings of established connections, and a drained backend's open
//! connections must keep flowing. Only when no service is left does the
//! batch delete the table (adding it first makes the delete valid whether
//! or not it exists).
//!
//! nftnl-rs wraps tables, chains, rules and the batch; the expressions it
//! lacks (fib, hash, numgen, reject, lookup into a data map, ct keys) and
//! data maps are built here on libnftnl itself through `nftnl::nftnl_sys`.

use std::ffi::{CString, c_void};
use std::net::IpAddr;
use std::ptr::NonNull;

use nftnl::expr::Expression;
use nftnl::nftnl_sys as sys;
use nftnl::{Batch, Chain, ChainType, FinalizedBatch, Hook as NfHook, MsgType, NlMsg, ProtoFamily};

use crate::error::NftError;
use crate::render::{Action, Family, Hook, Match, Picker, Rule, TABLE, Table};

// Values from the kernel's uapi headers (linux/netfilter/nf_tables.h,
// linux/netfilter.h, linux/rtnetlink.h), spelled out so the encoding does
// not depend on which of them a libc release carries.
const NFT_REG_VERDICT: u32 = 0;
const NFT_REG_1: u32 = 1;
const NFT_REG_2: u32 = 2;
/// The 32-bit register right after a 4-byte IPv4 address in NFT_REG_1.
const NFT_REG32_01: u32 = 9;
const NFT_META_NFPROTO: u32 = 15;
const NFT_META_L4PROTO: u32 = 16;
const NFT_META_OIFNAME: u32 = 7;
const NFT_PAYLOAD_NETWORK_HEADER: u32 = 1;
const NFT_PAYLOAD_TRANSPORT_HEADER: u32 = 2;
const NFT_CMP_EQ: u32 = 0;
const NFT_CMP_NEQ: u32 = 1;
const NFT_CT_STATE: u32 = 0;
/// NF_CT_STATE_BIT(IP_CT_NEW).
const CT_STATE_NEW: u32 = 1 << 3;
const NFT_FIB_RESULT_ADDRTYPE: u32 = 3;
const NFTA_FIB_F_DADDR: u32 = 1 << 1;
const RTN_LOCAL: u32 = 2;
const NFT_HASH_JENKINS: u32 = 0;
const NFT_NG_RANDOM: u32 = 1;
const NFT_NAT_DNAT: u32 = 1;
const NFT_REJECT_TCP_RST: u32 = 1;
const NFT_REJECT_ICMPX_UNREACH: u32 = 2;
const NFT_REJECT_ICMPX_PORT_UNREACH: u32 = 1;
const NFT_CT_PROTO_DST: u32 = 12;
const NFT_CT_DST_IP: u32 = 20;
const NFT_CT_DST_IP6: u32 = 22;
const IP_CT_DIR_ORIGINAL: u8 = 0;
const NF_DROP: u32 = 0;
const NFPROTO_IPV4: u32 = 2;
const NFPROTO_IPV6: u32 = 10;
const NFT_SET_ANONYMOUS: u32 = 0x1;
const NFT_SET_CONSTANT: u32 = 0x2;
const NFT_SET_MAP: u32 = 0x8;
/// nft's set user data: the key's byte order, so `nft list` prints the
/// (host-endian) slot numbers as numbers.
const NFTNL_UDATA_SET_KEYBYTEORDER: u8 = 0;
const BYTEORDER_HOST_ENDIAN: u32 = 1;
const NFT_MSG_NEWSET: u16 = 9;
const NFT_MSG_NEWSETELEM: u16 = 12;
/// nft's datatype ids, which `nft list` uses to print keys and data.
const TYPE_INTEGER: u32 = 4;
const TYPE_IPADDR: u32 = 7;
const TYPE_IP6ADDR: u32 = 8;
const TYPE_INET_SERVICE: u32 = 13;
/// nft's concatenated types: each component's id shifted in 6 bits at a time.
const CONCAT_SHIFT: u32 = 6;

/// One expression: its libnftnl name and attributes.
struct Expr {
    name: &'static std::ffi::CStr,
    u32s: Vec<(u32, u32)>,
    u8s: Vec<(u32, u8)>,
    strs: Vec<(u32, CString)>,
    data: Vec<(u32, Vec<u8>)>,
}

impl Expr {
    fn new(name: &'static std::ffi::CStr) -> Expr {
        Expr {
            name,
            u32s: Vec::new(),
            u8s: Vec::new(),
            strs: Vec::new(),
            data: Vec::new(),
        }
    }

    fn u32(mut self, attr: u32, value: u32) -> Expr {
        self.u32s.push((attr, value));
        self
    }

    fn u8(mut self, attr: u32, value: u8) -> Expr {
        self.u8s.push((attr, value));
        self
    }

    fn str(mut self, attr: u32, value: &str) -> Result<Expr, NftError> {
        let c = CString::new(value).map_err(|_| NftError::Name(value.to_string()))?;
        self.strs.push((attr, c));
        Ok(self)
    }

    fn data(mut self, attr: u32, value: Vec<u8>) -> Expr {
        self.data.push((attr, value));
        self
    }
}

impl Expression for Expr {
    fn to_expr(&self, _rule: &nftnl::Rule) -> NonNull<sys::nftnl_expr> {
        // SAFETY: libnftnl copies every attribute value it is given; the
        // expression it returns is owned by the caller (the rule frees it).
        unsafe {
            let expr = sys::nftnl_expr_alloc(self.name.as_ptr());
            let Some(expr) = NonNull::new(expr) else {
                // Out of memory for a few dozen bytes: nothing sensible is left.
                std::process::abort();
            };
            let e = expr.as_ptr();
            for (attr, v) in &self.u32s {
                sys::nftnl_expr_set_u32(e, *attr as u16, *v);
            }
            for (attr, v) in &self.u8s {
                sys::nftnl_expr_set_u8(e, *attr as u16, *v);
            }
            for (attr, v) in &self.strs {
                sys::nftnl_expr_set_str(e, *attr as u16, v.as_ptr());
            }
            for (attr, v) in &self.data {
                sys::nftnl_expr_set(e, *attr as u16, v.as_ptr().cast::<c_void>(), v.len() as u32);
            }
            expr
        }
    }
}

fn meta(key: u32) -> Expr {
    Expr::new(c"meta")
        .u32(sys::NFTNL_EXPR_META_KEY, key)
        .u32(sys::NFTNL_EXPR_META_DREG, NFT_REG_1)
}

fn cmp_eq(data: Vec<u8>) -> Expr {
    Expr::new(c"cmp")
        .u32(sys::NFTNL_EXPR_CMP_SREG, NFT_REG_1)
        .u32(sys::NFTNL_EXPR_CMP_OP, NFT_CMP_EQ)
        .data(sys::NFTNL_EXPR_CMP_DATA, data)
}

fn payload(base: u32, offset: u32, len: u32, reg: u32) -> Expr {
    Expr::new(c"payload")
        .u32(sys::NFTNL_EXPR_PAYLOAD_BASE, base)
        .u32(sys::NFTNL_EXPR_PAYLOAD_OFFSET, offset)
        .u32(sys::NFTNL_EXPR_PAYLOAD_LEN, len)
        .u32(sys::NFTNL_EXPR_PAYLOAD_DREG, reg)
}

fn ct_original(key: u32) -> Expr {
    Expr::new(c"ct")
        .u32(sys::NFTNL_EXPR_CT_KEY, key)
        .u8(sys::NFTNL_EXPR_CT_DIR, IP_CT_DIR_ORIGINAL)
        .u32(sys::NFTNL_EXPR_CT_DREG, NFT_REG_1)
}

fn immediate(reg: u32, data: Vec<u8>) -> Expr {
    Expr::new(c"immediate")
        .u32(sys::NFTNL_EXPR_IMM_DREG, reg)
        .data(sys::NFTNL_EXPR_IMM_DATA, data)
}

fn octets(addr: &IpAddr) -> Vec<u8> {
    match addr {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

fn nfproto(family: Family) -> u32 {
    match family {
        Family::V4 => NFPROTO_IPV4,
        Family::V6 => NFPROTO_IPV6,
    }
}

/// The register holding the port after a map lookup left `address . port`
/// in NFT_REG_1: right after the address, counted in 32-bit registers for
/// IPv4 (4 bytes) and in 128-bit ones for IPv6 (16 bytes).
fn port_register(family: Family) -> u32 {
    match family {
        Family::V4 => NFT_REG32_01,
        Family::V6 => NFT_REG_2,
    }
}

fn match_exprs(m: &Match) -> Vec<Expr> {
    match m {
        Match::NfProto(f) => vec![meta(NFT_META_NFPROTO), cmp_eq(vec![nfproto(*f) as u8])],
        Match::Daddr(a) => {
            let (offset, len) = match a {
                IpAddr::V4(_) => (16, 4),
                IpAddr::V6(_) => (24, 16),
            };
            vec![
                payload(NFT_PAYLOAD_NETWORK_HEADER, offset, len, NFT_REG_1),
                cmp_eq(octets(a)),
            ]
        }
        Match::DaddrLocal => vec![
            Expr::new(c"fib")
                .u32(sys::NFTNL_EXPR_FIB_FLAGS, NFTA_FIB_F_DADDR)
                .u32(sys::NFTNL_EXPR_FIB_RESULT, NFT_FIB_RESULT_ADDRTYPE)
                .u32(sys::NFTNL_EXPR_FIB_DREG, NFT_REG_1),
            cmp_eq(RTN_LOCAL.to_ne_bytes().to_vec()),
        ],
        Match::L4Proto(p) => vec![meta(NFT_META_L4PROTO), cmp_eq(vec![p.number()])],
        Match::Dport(p) => vec![
            payload(NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, NFT_REG_1),
            cmp_eq(p.to_be_bytes().to_vec()),
        ],
        Match::CtOriginalDaddr(a) => {
            let key = match a {
                IpAddr::V4(_) => NFT_CT_DST_IP,
                IpAddr::V6(_) => NFT_CT_DST_IP6,
            };
            vec![ct_original(key), cmp_eq(octets(a))]
        }
        Match::CtOriginalDport(p) => vec![
            ct_original(NFT_CT_PROTO_DST),
            cmp_eq(p.to_be_bytes().to_vec()),
        ],
        Match::CtStateNew => vec![
            Expr::new(c"ct")
                .u32(sys::NFTNL_EXPR_CT_KEY, NFT_CT_STATE)
                .u32(sys::NFTNL_EXPR_CT_DREG, NFT_REG_1),
            Expr::new(c"bitwise")
                .u32(sys::NFTNL_EXPR_BITWISE_SREG, NFT_REG_1)
                .u32(sys::NFTNL_EXPR_BITWISE_DREG, NFT_REG_1)
                .u32(sys::NFTNL_EXPR_BITWISE_LEN, 4)
                .data(
                    sys::NFTNL_EXPR_BITWISE_MASK,
                    CT_STATE_NEW.to_ne_bytes().to_vec(),
                )
                .data(sys::NFTNL_EXPR_BITWISE_XOR, 0u32.to_ne_bytes().to_vec()),
            Expr::new(c"cmp")
                .u32(sys::NFTNL_EXPR_CMP_SREG, NFT_REG_1)
                .u32(sys::NFTNL_EXPR_CMP_OP, NFT_CMP_NEQ)
                .data(sys::NFTNL_EXPR_CMP_DATA, 0u32.to_ne_bytes().to_vec()),
        ],
        Match::OifName(name) => {
            let mut bytes = name.as_bytes().to_vec();
            bytes.push(0);
            vec![meta(NFT_META_OIFNAME), cmp_eq(bytes)]
        }
    }
}

fn dnat(family: Family, port_reg: u32) -> Expr {
    Expr::new(c"nat")
        .u32(sys::NFTNL_EXPR_NAT_TYPE, NFT_NAT_DNAT)
        .u32(sys::NFTNL_EXPR_NAT_FAMILY, nfproto(family))
        .u32(sys::NFTNL_EXPR_NAT_REG_ADDR_MIN, NFT_REG_1)
        .u32(sys::NFTNL_EXPR_NAT_REG_PROTO_MIN, port_reg)
}

/// The expressions of `action`; a map DNAT looks up the anonymous map
/// with transaction id `map_id`, added to the batch just before the rule.
fn action_exprs(action: &Action, map_id: u32) -> Result<Vec<Expr>, NftError> {
    Ok(match action {
        Action::Dnat(addr, port) => vec![
            immediate(NFT_REG_1, octets(addr)),
            immediate(NFT_REG_2, port.to_be_bytes().to_vec()),
            dnat(Family::of(addr), NFT_REG_2),
        ],
        Action::DnatMap {
            family,
            picker,
            slots,
        } => {
            let n = u32::try_from(slots.len()).unwrap_or(u32::MAX);
            let pick = match picker {
                Picker::SourceHash { seed } => {
                    let (offset, len) = match family {
                        Family::V4 => (12, 4),
                        Family::V6 => (8, 16),
                    };
                    vec![
                        payload(NFT_PAYLOAD_NETWORK_HEADER, offset, len, NFT_REG_2),
                        Expr::new(c"hash")
                            .u32(sys::NFTNL_EXPR_HASH_SREG, NFT_REG_2)
                            .u32(sys::NFTNL_EXPR_HASH_DREG, NFT_REG_1)
                            .u32(sys::NFTNL_EXPR_HASH_LEN, len)
                            .u32(sys::NFTNL_EXPR_HASH_MODULUS, n)
                            .u32(sys::NFTNL_EXPR_HASH_SEED, *seed)
                            .u32(sys::NFTNL_EXPR_HASH_OFFSET, 0)
                            .u32(sys::NFTNL_EXPR_HASH_TYPE, NFT_HASH_JENKINS),
                    ]
                }
                Picker::Random => vec![
                    Expr::new(c"numgen")
                        .u32(sys::NFTNL_EXPR_NG_DREG, NFT_REG_1)
                        .u32(sys::NFTNL_EXPR_NG_MODULUS, n)
                        .u32(sys::NFTNL_EXPR_NG_TYPE, NFT_NG_RANDOM)
                        .u32(sys::NFTNL_EXPR_NG_OFFSET, 0),
                ],
            };
            let mut exprs = pick;
            exprs.push(
                Expr::new(c"lookup")
                    .u32(sys::NFTNL_EXPR_LOOKUP_SREG, NFT_REG_1)
                    .u32(sys::NFTNL_EXPR_LOOKUP_DREG, NFT_REG_1)
                    .str(sys::NFTNL_EXPR_LOOKUP_SET, ANON_MAP)?
                    .u32(sys::NFTNL_EXPR_LOOKUP_SET_ID, map_id),
            );
            exprs.push(dnat(*family, port_register(*family)));
            exprs
        }
        Action::Reject(l4) => {
            let (kind, code) = match l4 {
                crate::L4::Tcp => (NFT_REJECT_TCP_RST, 0),
                crate::L4::Udp => (NFT_REJECT_ICMPX_UNREACH, NFT_REJECT_ICMPX_PORT_UNREACH),
            };
            vec![
                Expr::new(c"reject")
                    .u32(sys::NFTNL_EXPR_REJECT_TYPE, kind)
                    .u8(sys::NFTNL_EXPR_REJECT_CODE, code as u8),
            ]
        }
        Action::Drop => vec![
            Expr::new(c"immediate")
                .u32(sys::NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT)
                .u32(sys::NFTNL_EXPR_IMM_VERDICT, NF_DROP),
        ],
        Action::Masquerade => vec![Expr::new(c"masq")],
    })
}

/// The name of an anonymous map: the kernel numbers it.
const ANON_MAP: &str = "__map%d";

/// An anonymous data map (slot → address . port), which nftnl-rs does not
/// model.
struct DataMap {
    set: NonNull<sys::nftnl_set>,
}

impl DataMap {
    fn new(family: Family, slots: &[(IpAddr, u16)], id: u32) -> Result<DataMap, NftError> {
        let name = CString::new(ANON_MAP).map_err(|_| NftError::Name(ANON_MAP.into()))?;
        let (addr_type, addr_len) = match family {
            Family::V4 => (TYPE_IPADDR, 4usize),
            Family::V6 => (TYPE_IP6ADDR, 16usize),
        };
        // Concatenated data: every component padded to 4 bytes.
        let data_len = addr_len + 4;
        // SAFETY: a fresh set, attributes copied by libnftnl; freed in Drop.
        unsafe {
            let Some(set) = NonNull::new(sys::nftnl_set_alloc()) else {
                std::process::abort();
            };
            let s = set.as_ptr();
            let table = CString::new(TABLE).map_err(|_| NftError::Name(TABLE.into()))?;
            sys::nftnl_set_set_u32(s, sys::NFTNL_SET_FAMILY as u16, ProtoFamily::Inet as u32);
            sys::nftnl_set_set_str(s, sys::NFTNL_SET_TABLE as u16, table.as_ptr());
            sys::nftnl_set_set_str(s, sys::NFTNL_SET_NAME as u16, name.as_ptr());
            sys::nftnl_set_set_u32(s, sys::NFTNL_SET_ID as u16, id);
            sys::nftnl_set_set_u32(
                s,
                sys::NFTNL_SET_FLAGS as u16,
                NFT_SET_ANONYMOUS | NFT_SET_CONSTANT | NFT_SET_MAP,
            );
            sys::nftnl_set_set_u32(s, sys::NFTNL_SET_KEY_TYPE as u16, TYPE_INTEGER);
            let mut udata = vec![NFTNL_UDATA_SET_KEYBYTEORDER, 4];
            udata.extend_from_slice(&BYTEORDER_HOST_ENDIAN.to_ne_bytes());
            sys::nftnl_set_set_data(
                s,
                sys::NFTNL_SET_USERDATA as u16,
                udata.as_ptr().cast::<c_void>(),
                udata.len() as u32,
            );
            sys::nftnl_set_set_u32(s, sys::NFTNL_SET_KEY_LEN as u16, 4);
            sys::nftnl_set_set_u32(
                s,
                sys::NFTNL_SET_DATA_TYPE as u16,
                (addr_type << CONCAT_SHIFT) | TYPE_INET_SERVICE,
            );
            sys::nftnl_set_set_u32(s, sys::NFTNL_SET_DATA_LEN as u16, data_len as u32);
            for (slot, (addr, port)) in slots.iter().enumerate() {
                let Some(elem) = NonNull::new(sys::nftnl_set_elem_alloc()) else {
                    std::process::abort();
                };
                let key = u32::try_from(slot).unwrap_or(u32::MAX).to_ne_bytes();
                let mut data = octets(addr);
                data.extend_from_slice(&port.to_be_bytes());
                data.resize(data_len, 0);
                sys::nftnl_set_elem_set(
                    elem.as_ptr(),
                    sys::NFTNL_SET_ELEM_KEY as u16,
                    key.as_ptr().cast::<c_void>(),
                    key.len() as u32,
                );
                sys::nftnl_set_elem_set(
                    elem.as_ptr(),
                    sys::NFTNL_SET_ELEM_DATA as u16,
                    data.as_ptr().cast::<c_void>(),
                    data.len() as u32,
                );
                sys::nftnl_set_elem_add(s, elem.as_ptr());
            }
            Ok(DataMap { set })
        }
    }
}

impl Drop for DataMap {
    fn drop(&mut self) {
        // SAFETY: allocated in `new`, freed once (with its elements).
        unsafe { sys::nftnl_set_free(self.set.as_ptr()) };
    }
}

struct NewSet<'a>(&'a DataMap);

// SAFETY: a set declaration is far smaller than the largest netlink message.
unsafe impl NlMsg for NewSet<'_> {
    unsafe fn write(&self, buf: *mut c_void, seq: u32, _msg_type: MsgType) {
        // SAFETY: `buf` has room for the largest message (NlMsg's contract).
        unsafe {
            let header = sys::nftnl_nlmsg_build_hdr(
                buf.cast(),
                NFT_MSG_NEWSET,
                ProtoFamily::Inet as u16,
                (libc::NLM_F_CREATE | libc::NLM_F_ACK) as u16,
                seq,
            );
            sys::nftnl_set_nlmsg_build_payload(header, self.0.set.as_ptr());
        }
    }
}

/// One message's worth of a map's elements: libnftnl's iterator fills a
/// message up to the netlink limit and resumes where it stopped.
struct NewElems {
    iter: *mut sys::nftnl_set_elems_iter,
    /// libnftnl's answer for the last message: 1 while elements remain.
    more: std::cell::Cell<i32>,
}

// SAFETY: the iterator never writes more than one netlink message.
unsafe impl NlMsg for NewElems {
    unsafe fn write(&self, buf: *mut c_void, seq: u32, _msg_type: MsgType) {
        // SAFETY: as above; `iter` belongs to a live set.
        unsafe {
            let header = sys::nftnl_nlmsg_build_hdr(
                buf.cast(),
                NFT_MSG_NEWSETELEM,
                ProtoFamily::Inet as u16,
                (libc::NLM_F_CREATE | libc::NLM_F_EXCL | libc::NLM_F_ACK) as u16,
                seq,
            );
            self.more.set(sys::nftnl_set_elems_nlmsg_build_payload_iter(
                header, self.iter,
            ));
        }
    }
}

fn add_elements(batch: &mut Writer, map: &DataMap, name: &str) {
    // SAFETY: the iterator lives within this function and the set outlives it.
    unsafe {
        let iter = sys::nftnl_set_elems_iter_create(map.set.as_ptr());
        if iter.is_null() {
            std::process::abort();
        }
        if !sys::nftnl_set_elems_iter_cur(iter).is_null() {
            let msg = NewElems {
                iter,
                more: std::cell::Cell::new(0),
            };
            loop {
                batch.add(&msg, MsgType::Add, format!("the elements of map {name}"));
                if msg.more.get() <= 0 {
                    break;
                }
            }
        }
        sys::nftnl_set_elems_iter_destroy(iter);
    }
}

/// A batch with a description of each message, to name the one the
/// kernel refuses.
struct Writer {
    batch: Batch,
    what: Vec<String>,
}

impl Writer {
    fn add<T: NlMsg>(&mut self, msg: &T, kind: MsgType, what: String) {
        self.batch.add(msg, kind);
        self.what.push(what);
    }
}

/// The batch that brings table `inet routerd` to `table` (deletes it when
/// `table` is empty), and what each of its messages does.
pub(crate) fn batch(table: &Table) -> Result<(FinalizedBatch, Vec<String>), NftError> {
    let name = CString::new(TABLE).map_err(|_| NftError::Name(TABLE.into()))?;
    let t = nftnl::Table::new(&name, ProtoFamily::Inet);
    let mut batch = Writer {
        batch: Batch::new(),
        what: Vec::new(),
    };
    batch.add(&t, MsgType::Add, format!("adding table inet {TABLE}"));
    if table.is_empty() {
        batch.add(&t, MsgType::Del, format!("deleting table inet {TABLE}"));
        return Ok((batch.batch.finalize(), batch.what));
    }
    let chains: Vec<Chain<'_>> = table
        .chains
        .iter()
        .map(|c| {
            let cname = CString::new(c.name).map_err(|_| NftError::Name(c.name.into()))?;
            let mut chain = Chain::new(&cname, &t);
            let hook = match c.hook {
                Hook::Prerouting => NfHook::PreRouting,
                Hook::Output => NfHook::Out,
                Hook::Input => NfHook::In,
                Hook::Postrouting => NfHook::PostRouting,
            };
            chain.set_hook(hook, c.priority);
            chain.set_type(if c.nat {
                ChainType::Nat
            } else {
                ChainType::Filter
            });
            chain.set_policy(nftnl::Policy::Accept);
            Ok(chain)
        })
        .collect::<Result<_, NftError>>()?;
    for (c, spec) in chains.iter().zip(&table.chains) {
        batch.add(c, MsgType::Add, format!("chain {}", spec.name));
        // A rule deletion without a handle flushes the chain; the anonymous
        // maps bound to its rules go with them.
        batch.add(
            &nftnl::Rule::new(c),
            MsgType::Del,
            format!("flushing chain {}", spec.name),
        );
    }
    let mut next_map = 0u32;
    for (chain, spec) in chains.iter().zip(&table.chains) {
        for r in &spec.rules {
            next_map += 1;
            if let Action::DnatMap { family, slots, .. } = &r.action {
                let map = DataMap::new(*family, slots, next_map)?;
                batch.add(&NewSet(&map), MsgType::Add, format!("the map of `{r}`"));
                add_elements(&mut batch, &map, &r.comment);
            }
            let rule = build_rule(chain, r, next_map)?;
            batch.add(
                &rule,
                MsgType::Add,
                format!("rule `{r}` in chain {}", spec.name),
            );
        }
    }
    Ok((batch.batch.finalize(), batch.what))
}

fn build_rule<'a>(
    chain: &'a Chain<'_>,
    r: &Rule,
    map_id: u32,
) -> Result<nftnl::Rule<'a>, NftError> {
    let mut rule = nftnl::Rule::new(chain);
    for m in &r.matches {
        for e in match_exprs(m) {
            rule.add_expr(&e);
        }
    }
    for e in action_exprs(&r.action, map_id)? {
        rule.add_expr(&e);
    }
    let comment =
        CString::new(r.comment.as_str()).map_err(|_| NftError::Name(r.comment.clone()))?;
    rule.set_comment(&comment)
        .map_err(|e| NftError::Name(format!("{}: {e}", r.comment)))?;
    Ok(rule)
}
