"""About the model: a model card built from the served run's metadata and report."""

from ui import model_card, resources

run = resources.require_run()
model_card.render(resources.report(run), resources.model_info(run))
