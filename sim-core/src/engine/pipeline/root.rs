//! The pipeline's default flows (`client.defaultFlows`, pipeline.go,
//! v1.15.1): one priority-0 flow per realized table carrying its miss
//! action, and PipelineRootClassifier's split of IPv4 and ARP into their
//! pipelines (`pipelineClassifyFlow`). Cookie category `Default`.

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
    out.push(Flow::new(
        Category::Default,
        T::PipelineRootClassifier,
        200,
        "ip",
        format!("goto_table:{}", layout.first_ip().name()),
    ));
    out.push(Flow::new(
        Category::Default,
        T::PipelineRootClassifier,
        200,
        "arp",
        format!("goto_table:{}", layout.first_arp().name()),
    ));
}
