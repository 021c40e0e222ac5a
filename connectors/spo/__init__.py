"""SharePoint Online user profiles: what the service holds and how maforge talks to it."""
