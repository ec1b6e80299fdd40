//! The OpenFlow program as data: a [`Match`] (field/value/mask conditions kept in
//! the order they were written), the [`Action`]s Antrea uses, a [`Flow`], a
//! [`Group`] with its [`Bucket`]s, and the [`TableMap`] between table ids and
//! Antrea's table names.

use super::field::{Field, FieldRef};

/// A protocol shorthand in a match (`ip`, `tcp`, `arp`, ...): it stands for
/// `dl_type` and, for L4 shorthands, `nw_proto`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Proto {
    Ip,
    Ipv6,
    Arp,
    Tcp,
    Udp,
    Sctp,
    Icmp,
    Igmp,
    Tcp6,
    Udp6,
    Sctp6,
    Icmp6,
}

pub const ETH_IP: u16 = 0x0800;
pub const ETH_ARP: u16 = 0x0806;
pub const ETH_IPV6: u16 = 0x86dd;

const PROTOS: [(Proto, &str, u16, Option<u8>); 12] = [
    (Proto::Ip, "ip", ETH_IP, None),
    (Proto::Ipv6, "ipv6", ETH_IPV6, None),
    (Proto::Arp, "arp", ETH_ARP, None),
    (Proto::Tcp, "tcp", ETH_IP, Some(6)),
    (Proto::Udp, "udp", ETH_IP, Some(17)),
    (Proto::Sctp, "sctp", ETH_IP, Some(132)),
    (Proto::Icmp, "icmp", ETH_IP, Some(1)),
    (Proto::Igmp, "igmp", ETH_IP, Some(2)),
    (Proto::Tcp6, "tcp6", ETH_IPV6, Some(6)),
    (Proto::Udp6, "udp6", ETH_IPV6, Some(17)),
    (Proto::Sctp6, "sctp6", ETH_IPV6, Some(132)),
    (Proto::Icmp6, "icmp6", ETH_IPV6, Some(58)),
];

impl Proto {
    pub fn from_name(s: &str) -> Option<Proto> {
        PROTOS.iter().find(|p| p.1 == s).map(|p| p.0)
    }
    pub fn name(self) -> &'static str {
        PROTOS
            .iter()
            .find(|p| p.0 == self)
            .map(|p| p.1)
            .unwrap_or("ip")
    }
    pub fn dl_type(self) -> u16 {
        PROTOS
            .iter()
            .find(|p| p.0 == self)
            .map(|p| p.2)
            .unwrap_or(ETH_IP)
    }
    pub fn nw_proto(self) -> Option<u8> {
        PROTOS.iter().find(|p| p.0 == self).and_then(|p| p.3)
    }
}

/// One written match item.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum MatchItem {
    Proto(Proto),
    /// `field=value[/mask]`; `mask` is all ones over the field for an exact match.
    Field {
        field: Field,
        value: u128,
        mask: u128,
    },
}

/// One normalised condition: `packet[field] & mask == value`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cond {
    pub field: Field,
    pub value: u128,
    pub mask: u128,
}

/// A match: items as written (for printing), and the conditions they mean
/// (sorted by field, one per field, for matching and indexing).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Match {
    items: Vec<MatchItem>,
    conds: Vec<Cond>,
}

impl Match {
    pub fn new(items: Vec<MatchItem>) -> Result<Match, String> {
        let mut conds: Vec<Cond> = Vec::new();
        let add = |c: Cond, conds: &mut Vec<Cond>| -> Result<(), String> {
            if let Some(prev) = conds.iter_mut().find(|p| p.field == c.field) {
                let both = prev.mask & c.mask;
                if prev.value & both != c.value & both {
                    return Err(format!(
                        "`{}` is matched twice with conflicting values",
                        c.field.match_name()
                    ));
                }
                prev.value |= c.value;
                prev.mask |= c.mask;
            } else {
                conds.push(c);
            }
            Ok(())
        };
        for item in &items {
            match item {
                MatchItem::Proto(p) => {
                    add(cond(Field::EthType, u128::from(p.dl_type())), &mut conds)?;
                    if let Some(n) = p.nw_proto() {
                        add(cond(Field::NwProto, u128::from(n)), &mut conds)?;
                    }
                }
                MatchItem::Field { field, value, mask } => {
                    let c = match field {
                        // dl_vlan=V is "tagged with VID V": vlan_tci=0x1000|V/0x1fff.
                        Field::DlVlan => Cond {
                            field: Field::VlanTci,
                            value: 0x1000 | value,
                            mask: 0x1000 | mask,
                        },
                        Field::VlanVid => Cond {
                            field: Field::VlanTci,
                            value: *value,
                            mask: *mask,
                        },
                        f => Cond {
                            field: f.storage(),
                            value: *value,
                            mask: *mask,
                        },
                    };
                    add(c, &mut conds)?;
                }
            }
        }
        conds.sort();
        Ok(Match { items, conds })
    }

    pub fn items(&self) -> &[MatchItem] {
        &self.items
    }

    pub fn conds(&self) -> &[Cond] {
        &self.conds
    }

    /// The value this match requires for `field` exactly, if it does.
    pub fn exact(&self, field: Field) -> Option<u128> {
        self.conds
            .iter()
            .find(|c| c.field == field && c.mask == field.full_mask())
            .map(|c| c.value)
    }
}

fn cond(field: Field, value: u128) -> Cond {
    Cond {
        field,
        value,
        mask: field.full_mask(),
    }
}

/// The OpenFlow reserved ports (OpenFlow 1.3+ numbering, as Antrea uses them).
pub mod port {
    pub const IN_PORT: u32 = 0xffff_fff8;
    pub const NORMAL: u32 = 0xffff_fffa;
    pub const CONTROLLER: u32 = 0xffff_fffd;
    pub const LOCAL: u32 = 0xffff_fffe;
}

/// `load:` source: an immediate or a field range.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum LoadSrc {
    Imm(u128),
    Field(FieldRef),
}

/// `zone=65520` or `zone=NXM_NX_REG8[0..15]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum CtZone {
    Imm(u16),
    Field(FieldRef),
}

/// `nat`, `nat(src=IP[-IP][:PORT[-PORT]])`, `nat(dst=...)`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Nat {
    /// None for a bare `nat` (apply the connection's existing NAT).
    pub kind: Option<NatKind>,
    /// Address range (IPv4 as u128, or IPv6).
    pub ip_min: u128,
    pub ip_max: Option<u128>,
    pub port_min: Option<u16>,
    pub port_max: Option<u16>,
    pub v6: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NatKind {
    Src,
    Dst,
}

/// `ct(...)`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CtAction {
    pub commit: bool,
    pub table: Option<u8>,
    pub zone: CtZone,
    pub nat: Option<Nat>,
    pub exec: Vec<Action>,
}

/// One `learn(...)` spec.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum LearnSpec {
    /// `eth_type=0x800`: the learned flow matches this value.
    MatchImm { field: Field, value: u128 },
    /// `OXM_OF_TCP_DST[]` (src = dst) or `DST[..]=SRC[..]`: the learned flow
    /// matches dst against the packet's src value.
    MatchField {
        dst: FieldRef,
        src: Option<FieldRef>,
    },
    /// `load:SRC->DST`: the learned flow loads SRC's value (taken now) into DST.
    Load { src: LoadSrc, dst: FieldRef },
}

/// `learn(...)` (Antrea's SessionAffinity form).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Learn {
    pub table: u8,
    pub idle_timeout: Option<u16>,
    pub hard_timeout: Option<u16>,
    pub fin_idle_timeout: Option<u16>,
    pub priority: Option<u16>,
    pub delete_learned: bool,
    pub cookie: Option<u64>,
    pub specs: Vec<LearnSpec>,
}

/// One action.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    GotoTable(u8),
    /// `resubmit:T`, `resubmit(,T)`, `resubmit(PORT,T)`.
    Resubmit {
        port: Option<u32>,
        table: Option<u8>,
    },
    SetField {
        field: Field,
        value: u128,
        mask: Option<u128>,
    },
    Load {
        src: LoadSrc,
        dst: FieldRef,
    },
    Move {
        src: FieldRef,
        dst: FieldRef,
    },
    Ct(Box<CtAction>),
    Group(u32),
    Learn(Box<Learn>),
    Conjunction {
        id: u32,
        clause: u8,
        n_clauses: u8,
    },
    Output(u32),
    OutputField(FieldRef),
    InPort,
    Local,
    Normal,
    Drop,
    DecTtl,
    /// `controller(...)` with its arguments kept as written (None: bare `controller`).
    Controller(Option<String>),
    ModDlSrc(u128),
    ModDlDst(u128),
    ModNwSrc(u32),
    ModNwDst(u32),
    PushVlan(u16),
    PopVlan,
    Meter(u32),
    Note(String),
}

/// One flow.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Flow {
    pub cookie: u64,
    pub table: u8,
    pub priority: u16,
    pub idle_timeout: Option<u16>,
    pub hard_timeout: Option<u16>,
    pub matches: Match,
    pub actions: Vec<Action>,
}

impl Flow {
    /// The conjunction this flow contributes to, if its actions are all
    /// `conjunction(...)` (OVS requires that).
    pub fn conjunctions(&self) -> impl Iterator<Item = (u32, u8, u8)> + '_ {
        self.actions.iter().filter_map(|a| match a {
            Action::Conjunction {
                id,
                clause,
                n_clauses,
            } => Some((*id, *clause, *n_clauses)),
            _ => None,
        })
    }

    pub fn is_conjunctive(&self) -> bool {
        !self.actions.is_empty()
            && self
                .actions
                .iter()
                .all(|a| matches!(a, Action::Conjunction { .. }))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GroupType {
    All,
    Select,
    Indirect,
    FastFailover,
}

impl GroupType {
    pub fn name(self) -> &'static str {
        match self {
            GroupType::All => "all",
            GroupType::Select => "select",
            GroupType::Indirect => "indirect",
            GroupType::FastFailover => "ff",
        }
    }
    pub fn from_name(s: &str) -> Option<GroupType> {
        Some(match s {
            "all" => GroupType::All,
            "select" => GroupType::Select,
            "indirect" => GroupType::Indirect,
            "ff" | "fast_failover" => GroupType::FastFailover,
            _ => return None,
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Bucket {
    pub id: Option<u32>,
    pub weight: Option<u16>,
    pub actions: Vec<Action>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Group {
    pub id: u32,
    pub kind: GroupType,
    pub buckets: Vec<Bucket>,
}

/// Table ids and names (the pipeline's list `(id, name)`): resolves names while
/// parsing and prints names or numbers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TableMap {
    names: Vec<(u8, String)>,
}

impl TableMap {
    pub fn new(pairs: &[(u8, &str)]) -> TableMap {
        TableMap {
            names: pairs.iter().map(|(i, n)| (*i, (*n).to_string())).collect(),
        }
    }

    /// A table by name, or by number.
    pub fn resolve(&self, s: &str) -> Result<u8, String> {
        if let Some((id, _)) = self.names.iter().find(|(_, n)| n == s) {
            return Ok(*id);
        }
        s.parse::<u8>().map_err(|_| {
            format!("`{s}`: unknown table (not a pipeline table name or a number 0-254)")
        })
    }

    pub fn name(&self, id: u8) -> Option<&str> {
        self.names
            .iter()
            .find(|(i, _)| *i == id)
            .map(|(_, n)| n.as_str())
    }

    pub fn pairs(&self) -> impl Iterator<Item = (u8, &str)> {
        self.names.iter().map(|(i, n)| (*i, n.as_str()))
    }
}
