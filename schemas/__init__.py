"""The JSON Schemas of every MQTT payload (draft 2020-12), installed as package data so that
the agent and the dashboard check commands against these very files at run time."""
