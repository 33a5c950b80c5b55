-- multinic-agent: OPTIONAL subnet table (SPEC §2).
--
-- Some controller versions leave `multi_interface.cidr` NULL and keep the network of each OpenStack
-- subnet here instead. The agent looks for this table (information_schema, once) and, when it exists
-- with both columns, uses its `cidr` for rows whose own `cidr` is NULL. A row's own `cidr` always wins.
--
-- Only create it when your controller expects it; the agent works without it.
-- Apply:  mysql -h HOST -u ADMIN -p multinic_db < sql/multi-subnet.sql

CREATE TABLE IF NOT EXISTS multi_subnet (
  subnet_id VARCHAR(36) PRIMARY KEY,
  cidr VARCHAR(18)
);
