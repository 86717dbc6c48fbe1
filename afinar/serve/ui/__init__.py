"""Pages under ``/ui`` (:mod:`afinar.serve.ui.routes`): runs, jobs, comparisons and governance."""
