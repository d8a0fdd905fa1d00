"""About the model: a model card built from the served run's metadata and report."""

from ui import model_card, resources

run_path = resources.require_run()
model_card.render(resources.report(run_path), resources.model_info(run_path))
