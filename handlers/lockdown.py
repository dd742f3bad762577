"""lockdown / evacuation / roll call / drill capability (to be built)."""
