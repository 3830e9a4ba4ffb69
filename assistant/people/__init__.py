"""People on a team project: analysts, their roles and their sign-in. Sits beside `project`, under
every analysis package, so a role check can guard any library write.

- `users`: add, list, remove, change role or password (audited; lead only once there is a team);
- `auth`: argon2 password hashes, sign-in, sessions that expire;
- `roles`: `require_role(project, actor, "lead")` for the writes only a lead may make.

A project with no users is one analyst's, exactly as before: no sign-in, the analyst's name from
the settings, every write allowed."""
