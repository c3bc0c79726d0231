"""The REST API, one module per resource. Views parse, authorise, call a service and shape the answer."""
