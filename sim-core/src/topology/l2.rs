//! Layer-2 checks on the topology graph: loops within a VLAN and MAC
//! addresses used twice in one broadcast domain.
//!
//! The graph's nodes are *segments*: one switch's VLAN, `(switch, vid)`. A
//! link between two switch ports joins segment `(A, v)` to `(B, w)` when a
//! frame of VLAN `v` leaving A's port arrives in VLAN `w` at B's port and a
//! frame of `w` comes back as `v` (the ports' access/trunk/Proxmox modes,
//! [`VlanMode::egress_tag`] and [`VlanMode::ingress_vlan`], as the simulator
//! forwards). Usually `v == w`; a native VLAN on one end and an access port
//! of another VLAN on the other join two numbers into one segment chain.
//!
//! No device here runs spanning tree, so a cycle in that graph is a loop a
//! broadcast circulates forever: two links between the same two switches on
//! a VLAN both carry, a triangle of switches, a switch port cabled to
//! another port of the same switch. Hosts never bridge (the topology format
//! has no bridge interfaces; a Kubernetes node's `br-int` reaches only its
//! own Pods), so a VM with two NICs on one VLAN is two stations, not a loop.
//!
//! A broadcast domain is a connected set of segments plus the host
//! interfaces and SVIs attached to them (a host's untagged interface lands
//! in its switch port's untagged VLAN, a VLAN sub-interface in the VLAN its
//! tag is admitted to), or the two ends of a host-to-host cable. Two
//! attachments on different ports with one MAC in one domain make every
//! switch's MAC table flap between them: refused.

use std::collections::BTreeMap;

use petgraph::graph::{EdgeIndex, NodeIndex, UnGraph};
use petgraph::unionfind::UnionFind;
use petgraph::visit::EdgeRef;

use crate::model::{DeviceId, DeviceKind, IfaceKind, MacAddr, PortRef, Topology, VlanMode};

/// Where a layer-2 problem is, for the loader to turn into a file position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum L2Place {
    /// `Topology::links[i]`: the link that closes a loop.
    Link(usize),
    /// A host interface (`device`, interface name) whose MAC is taken.
    Iface { device: String, iface: String },
    /// A switch's SVI of `vlan` whose MAC is taken.
    Svi { device: String, vlan: u16 },
}

/// A layer-2 problem and what to tell the user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct L2Error {
    pub(crate) place: L2Place,
    pub(crate) message: String,
}

/// A switch's VLAN: one node of the layer-2 graph.
type Segment = (DeviceId, u16);

/// The graph of segments; each edge is a link (its index in
/// `Topology::links`), added with the segment of the link's `a` end first.
struct SegmentGraph {
    graph: UnGraph<Segment, usize>,
    index: BTreeMap<Segment, NodeIndex>,
}

/// Refuses a layer-2 loop, then a MAC address used twice in one broadcast
/// domain. The first problem found (in link order, then interface order).
pub fn check(topo: &Topology) -> Result<(), L2Error> {
    let segments = SegmentGraph::new(topo);
    let mut joined = UnionFind::<usize>::new(segments.graph.node_count());
    let mut forest = SegmentGraph {
        graph: UnGraph::default(),
        index: BTreeMap::new(),
    };
    // Same node indices in the forest as in the full graph.
    for seg in segments.graph.node_weights() {
        forest.node(*seg);
    }
    for e in segments.graph.edge_references() {
        let (u, v) = (e.source(), e.target());
        if !joined.union(u.index(), v.index()) {
            let cycle = forest.path(v, u);
            return Err(loop_error(topo, &forest, u, *e.weight(), v, &cycle));
        }
        forest.graph.add_edge(u, v, *e.weight());
    }
    duplicate_macs(topo, &segments, &mut joined)
}

impl SegmentGraph {
    /// Every segment a switch port or SVI names, and one edge per VLAN each
    /// switch-to-switch link carries both ways.
    fn new(topo: &Topology) -> SegmentGraph {
        let mut g = SegmentGraph {
            graph: UnGraph::default(),
            index: BTreeMap::new(),
        };
        for (i, d) in topo.devices.iter().enumerate() {
            if let DeviceKind::Switch(s) = &d.kind {
                let id = DeviceId(i as u32);
                for p in &s.ports {
                    for v in p.vlan.vlans() {
                        g.node((id, v));
                    }
                }
                for svi in &s.svis {
                    g.node((id, svi.vlan));
                }
            }
        }
        for (li, l) in topo.links.iter().enumerate() {
            let (Some(ma), Some(mb)) = (port_mode(topo, l.a), port_mode(topo, l.b)) else {
                continue;
            };
            for v in ma.vlans() {
                let Some(w) = crossing(ma, mb, v) else {
                    continue;
                };
                if crossing(mb, ma, w) == Some(v) {
                    let (x, y) = (g.node((l.a.device, v)), g.node((l.b.device, w)));
                    g.graph.add_edge(x, y, li);
                }
            }
        }
        g
    }

    fn node(&mut self, seg: Segment) -> NodeIndex {
        if let Some(n) = self.index.get(&seg) {
            return *n;
        }
        let n = self.graph.add_node(seg);
        self.index.insert(seg, n);
        n
    }

    /// The edges of a path from `from` to `to` (breadth first, so the
    /// shortest), in walking order. The two are known to be connected.
    fn path(&self, from: NodeIndex, to: NodeIndex) -> Vec<(EdgeIndex, NodeIndex)> {
        let mut came_by: BTreeMap<NodeIndex, (EdgeIndex, NodeIndex)> = BTreeMap::new();
        let mut queue = std::collections::VecDeque::from([from]);
        while let Some(n) = queue.pop_front() {
            if n == to {
                break;
            }
            for e in self.graph.edges(n) {
                let next = if e.source() == n {
                    e.target()
                } else {
                    e.source()
                };
                if next != from && !came_by.contains_key(&next) {
                    came_by.insert(next, (e.id(), n));
                    queue.push_back(next);
                }
            }
        }
        let mut steps = Vec::new();
        let mut at = to;
        while at != from {
            let Some(&(e, prev)) = came_by.get(&at) else {
                break;
            };
            steps.push((e, at));
            at = prev;
        }
        steps.reverse();
        steps
    }
}

/// The VLAN mode of a switch port; `None` for a host's port.
fn port_mode(topo: &Topology, p: PortRef) -> Option<&VlanMode> {
    match &topo.device(p.device).kind {
        DeviceKind::Switch(s) => s.ports.get(usize::from(p.port)).map(|x| &x.vlan),
        DeviceKind::Host(_) => None,
    }
}

/// The VLAN a frame of `vlan` leaving a port of mode `out` belongs to at the
/// far port of mode `into`, if it gets there.
fn crossing(out: &VlanMode, into: &VlanMode, vlan: u16) -> Option<u16> {
    into.ingress_vlan(out.egress_tag(vlan)?)
}

/// `device/port` of a link end.
fn port_name(topo: &Topology, p: PortRef) -> String {
    let d = topo.device(p.device);
    let port = match &d.kind {
        DeviceKind::Switch(s) => s.ports.get(usize::from(p.port)).map(|x| x.name.as_str()),
        DeviceKind::Host(h) => h
            .interfaces
            .iter()
            .filter(|i| i.kind == IfaceKind::Physical)
            .nth(usize::from(p.port))
            .map(|i| i.name.as_str()),
    };
    format!("{}/{}", d.name, port.unwrap_or("?"))
}

/// The loop closed by link `closing` from segment `u` to `v`, walking back
/// from `v` to `u` along `path`: each link's ports in walking order.
fn loop_error(
    topo: &Topology,
    g: &SegmentGraph,
    u: NodeIndex,
    closing: usize,
    v: NodeIndex,
    path: &[(EdgeIndex, NodeIndex)],
) -> L2Error {
    let link = &topo.links[closing];
    let mut hops = vec![format!(
        "{} -> {}",
        port_name(topo, link.a),
        port_name(topo, link.b)
    )];
    let mut vlans = vec![g.graph[u].1, g.graph[v].1];
    let mut at = v;
    for &(e, next) in path {
        let l = &topo.links[g.graph[e]];
        // The edge was added with the link's `a` end's segment first.
        let (src, _) = g.graph.edge_endpoints(e).expect("edge of this graph");
        let (from, to) = if src == at { (l.a, l.b) } else { (l.b, l.a) };
        hops.push(format!(
            "{} -> {}",
            port_name(topo, from),
            port_name(topo, to)
        ));
        vlans.push(g.graph[next].1);
        at = next;
    }
    vlans.sort_unstable();
    vlans.dedup();
    let on = match vlans.as_slice() {
        [one] => format!("VLAN {one}"),
        many => format!(
            "VLANs {}",
            many.iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    L2Error {
        place: L2Place::Link(closing),
        message: format!(
            "layer-2 loop on {on}: {} (no spanning tree here, so a broadcast would circulate forever; prune the VLAN from one of these links or remove one)",
            hops.join(", ")
        ),
    }
}

/// A broadcast domain: a set of joined segments (its union-find root) or
/// the wire of one host-to-host link with one tag (`None`: untagged).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Domain {
    Segments(usize),
    Wire(usize, Option<u16>),
}

/// Who uses a MAC in a domain: where it plugs in (a port, or a switch's own
/// SVI) and its name for messages.
struct Station {
    attached: Attachment,
    name: String,
    vlan: Option<u16>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Attachment {
    Port(PortRef),
    Svi(DeviceId),
}

fn duplicate_macs(
    topo: &Topology,
    segments: &SegmentGraph,
    joined: &mut UnionFind<usize>,
) -> Result<(), L2Error> {
    let mut seen: BTreeMap<(Domain, MacAddr), Station> = BTreeMap::new();
    let mut claim = |domain: Domain, mac: MacAddr, st: Station, place: L2Place| {
        if let Some(prev) = seen.get(&(domain, mac)) {
            if prev.attached == st.attached {
                return Ok(());
            }
            let on = match (domain, st.vlan) {
                (Domain::Wire(li, _), _) => {
                    let l = &topo.links[li];
                    format!(
                        "on the link {} - {}",
                        port_name(topo, l.a),
                        port_name(topo, l.b)
                    )
                }
                (_, Some(v)) => format!("on VLAN {v}"),
                (_, None) => "in one broadcast domain".to_string(),
            };
            return Err(L2Error {
                place,
                message: format!(
                    "MAC {mac} of {} is already used by {} {on} (one MAC per layer-2 domain, or switches flap between their ports)",
                    st.name, prev.name
                ),
            });
        }
        seen.insert((domain, mac), st);
        Ok(())
    };
    let mut root = |seg: Segment| {
        segments
            .index
            .get(&seg)
            .map(|n| Domain::Segments(joined.find_mut(n.index())))
    };
    for (li, l) in topo.links.iter().enumerate() {
        for (host_end, far) in [(l.a, l.b), (l.b, l.a)] {
            let DeviceKind::Host(h) = &topo.device(host_end.device).kind else {
                continue;
            };
            let Some(phys) = h
                .interfaces
                .iter()
                .filter(|i| i.kind == IfaceKind::Physical)
                .nth(usize::from(host_end.port))
            else {
                continue;
            };
            let dev = &topo.device(host_end.device).name;
            for i in &h.interfaces {
                let tag = match &i.kind {
                    IfaceKind::Physical if i.name == phys.name => None,
                    IfaceKind::Vlan { parent, vid } if *parent == phys.name => Some(*vid),
                    _ => continue,
                };
                let (domain, vlan) = match port_mode(topo, far) {
                    Some(mode) => {
                        let Some(w) = mode.ingress_vlan(tag) else {
                            continue;
                        };
                        match root((far.device, w)) {
                            Some(d) => (d, Some(w)),
                            None => continue,
                        }
                    }
                    None => (Domain::Wire(li, tag), tag),
                };
                claim(
                    domain,
                    i.mac,
                    Station {
                        attached: Attachment::Port(host_end),
                        name: format!("{dev}/{}", i.name),
                        vlan,
                    },
                    L2Place::Iface {
                        device: dev.clone(),
                        iface: i.name.clone(),
                    },
                )?;
            }
        }
    }
    for (i, d) in topo.devices.iter().enumerate() {
        let DeviceKind::Switch(s) = &d.kind else {
            continue;
        };
        let id = DeviceId(i as u32);
        for svi in &s.svis {
            let Some(domain) = root((id, svi.vlan)) else {
                continue;
            };
            claim(
                domain,
                svi.mac,
                Station {
                    attached: Attachment::Svi(id),
                    name: format!("{}/{}", d.name, svi.name),
                    vlan: Some(svi.vlan),
                },
                L2Place::Svi {
                    device: d.name.clone(),
                    vlan: svi.vlan,
                },
            )?;
        }
    }
    Ok(())
}
