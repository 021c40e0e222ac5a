"""Back-end: the model → the PowerShell script set the "PowerShell (Microsoft)" connector runs
(scriptset picks the user's scripts or renders templates/spo through sposcripts)."""
