//! The pipeline's default flows (`client.defaultFlows`, pipeline.go,
//! v1.15.1): one priority-0 flow per realized table carrying its miss
//! action, and PipelineRootClassifier's split of IPv4 and ARP into their
//! pipelines (`pipelineClassifyFlow`), and on an external Node of the rest
//! into the non-IP pipeline. Cookie category `Default`.

use super::flow::{Category, Flow, FlowSet};
use super::tables::{Miss, T};

pub(crate) fn default_flows(out: &mut FlowSet) {
    let layout = out.layout;
    for &t in layout.tables() {
        let actions = match layout.miss(t) {
            Miss::Drop => "drop".to_string(),
            Miss::Next(n) => format!("goto_table:{}", n.name()),
        };
        out.push(Flow::new(Category::Default, t, 0, "", actions));
    }
    // A pipeline without tables is not realized and gets no flow.
    for (matches, first) in [("ip", layout.first_ip()), ("arp", layout.first_arp())] {
        if let Some(t) = first {
            out.push(Flow::new(
                Category::Default,
                T::PipelineRootClassifier,
                200,
                matches,
                format!("goto_table:{}", t.name()),
            ));
        }
    }
    // nonIPPipelineClassifyFlow (externalnode_connectivity.go): whatever is
    // neither, at priorityLow.
    if let Some(t) = layout.first_non_ip() {
        out.push(Flow::new(
            Category::Default,
            T::PipelineRootClassifier,
            190,
            "",
            format!("goto_table:{}", t.name()),
        ));
    }
}
