-- Who owns each event (issue 11): `owner` is 'user' when its userId is a real identifier,
-- else 'profile' when its profileId is, else NULL (model/event.py `owner_of`, decided in
-- Python at write; rows stored before this migration get it from store/backfill.py). A
-- person's events are one indexed query per kind of identifier: through events_profile_owned
-- a kiosk's profileId finds its own anonymous events, never the events of its many users.
-- `group_event_id`: the eventId of the first item of the event's group when it differs from
-- the event's own (the items of a group are one SDK call: one order, however many lines).
ALTER TABLE events ADD COLUMN group_event_id TEXT;
ALTER TABLE events ADD COLUMN owner TEXT;
CREATE INDEX events_profile_owned ON events (project_id, profile_id, timestamp, seq)
    WHERE owner = 'profile';
