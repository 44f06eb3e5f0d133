"""Teams: who owns which services, policies and schedules, and who may change or act on them."""
