"""Words every page shows. Kept apart from the sidebar so a page can show them before PyTorch is imported."""

NOTICE = (
    "**Assistive use only.** The model's output supports, and never replaces, clinical judgement: "
    "the final diagnosis is the clinician's."
)
IN_MEMORY = "Files you upload are processed in memory for this session only: never stored, never sent."
