"""The GTS REST API: the guide's four endpoints, on Django REST framework."""
