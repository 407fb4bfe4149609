"""The views: page shaping between the facade (:meth:`kehu.service.workspace.Workspace.as_user`) and the fronts —
display rows, chart series and the other shapes a page draws from what the services return. Views never touch
the store; the web pages (:mod:`kehu.web`) render what they return."""
