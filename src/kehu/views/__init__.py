"""The views: page shaping between the facade (:meth:`kehu.service.workspace.Workspace.as_user`) and the fronts.

The services return facts, as the CLI and the REST API want them; a module here per page shapes them for the
page and its ``.json`` twin — filter and form choices, cursors, heatmap cells and named bands
(:mod:`~kehu.views.customer_list`, :mod:`~kehu.views.dashboard`, :mod:`~kehu.views.settings`,
:mod:`~kehu.views.campaigns`, :mod:`~kehu.views.tickets`, :mod:`~kehu.views.segments`, :mod:`~kehu.views.kpis`),
the named published figures (:mod:`~kehu.views.figures`), chart series (:mod:`~kehu.views.charts`) and display
rows (:mod:`~kehu.views.customer_rows`). A route calls the service, then
the view, and :func:`kehu.web.render.render` draws the result or serialises it. Views never touch the store.
"""
