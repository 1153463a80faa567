DROP TABLE funder_access;
DROP TABLE funder_sessions;
DROP TABLE funders;
