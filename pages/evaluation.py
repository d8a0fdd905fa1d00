"""Evaluation: how the served model did on held-out test images, from the report its training run wrote."""

import streamlit as st

from core.report.run_report import SUBSETS
from ui import dashboard, localisation_view, resources

TAB_KEY = "eval:tab"

st.title("Held-out evaluation")
run = resources.require_run()
report = resources.report(run)
st.caption(
    f"Run `{report.name}` ({report.metadata.get('architecture', '?')}), trained "
    f"{str(report.metadata.get('created', ''))[:10]}. "
    "Every number below comes from the report written by the training run; none is typed in."
)
if report.problems:
    st.caption("Not in this run's report: " + "; ".join(report.problems) + ".")

dashboard.headline_cards(report)
st.subheader("Where this model has been measured")
dashboard.measured_on(report)
subset = st.radio(
    "Test subset for the sections below",
    list(SUBSETS),
    index=list(SUBSETS).index("leak_free"),  # the honest subset first: the full set shares slices with training
    format_func=SUBSETS.get,
    horizontal=True,
    key="eval:subset",
    help="The leak-free subset excludes test images with an exact or near copy in the training data.",
)

# Only the open tab is drawn (on_change="rerun"): drawing every tab's charts at once took the browser seconds.
overview, calibration, training, errors, looks, other_sources, data, compare = st.tabs(
    [
        "Confusion & per class",
        "Calibration & abstention",
        "Training",
        "Misclassified",
        "Where the model looks",
        "Scored after training",
        "Data",
        "Compare runs",
    ],
    key=TAB_KEY,
    on_change="rerun",
)
if overview.open:
    with overview:
        st.subheader("Confusion matrix")
        dashboard.confusion_matrices(report, subset)
        st.subheader("Per class")
        dashboard.per_class(report, subset)
        st.subheader("ROC and precision-recall")
        dashboard.curves(report, subset)
if calibration.open:
    with calibration:
        st.subheader("Reliability")
        dashboard.reliability(report, subset)
        st.subheader("Risk–coverage")
        dashboard.risk_coverage(report)
if training.open:
    with training:
        st.subheader("Training curves")
        dashboard.training(report)
if errors.open:
    with errors:
        st.subheader("Misclassified test images")
        dashboard.misclassified_gallery(report, subset)
if looks.open:
    with looks:
        st.subheader("Where the model looks")
        localisation_view.where_the_model_looks(run, subset)
if other_sources.open:
    with other_sources:
        st.subheader("Sets scored after training")
        if report.externals:
            dashboard.external_set(report)
        else:
            st.caption("No other set has been scored for this run.")
if data.open:
    with data:
        st.subheader("Data")
        dashboard.data_summary(report)
if compare.open:
    with compare:
        others = [path for path in resources.available_runs() if path != run]
        if not others:
            st.caption("Only one run in the weights folder; train another to compare.")
        else:
            other = st.selectbox("Compare with", others, format_func=lambda path: path.name, key="eval:compare")
            dashboard.comparison([report, resources.report(other)])
