-- multinic-agent: least privilege for the agent's database user (SPEC §2).
--
-- The agent reads its node's rows and writes one column, `netplan_success`, of the controller's table.
-- In its own table (sql/fleet.sql) it reads every node's row and writes its own.
--
-- Placeholders (replace all of them before applying):
--   multinic_db        the controller's database
--   'multinic'@'%'     the agent's account (narrow the host part to your nodes' network if you can)
--
-- The account must exist first, e.g.:
--   CREATE USER 'multinic'@'%' IDENTIFIED BY '<password from the agent Secret>';
--
-- Apply with sed, e.g. for database `openstack_net` and account 'agent'@'10.0.%':
--   sed -e 's/multinic_db/openstack_net/g' -e "s/'multinic'@'%'/'agent'@'10.0.%'/g" sql/grant.sql \
--     | mysql -h HOST -u root -p
--
-- Table-level grants need the table to exist. If your controller has no `multi_subnet` table, drop the
-- last statement (or apply with `mysql --force`); the agent detects the table's absence and does without.

-- Read this node's rows.
GRANT SELECT ON multinic_db.multi_interface TO 'multinic'@'%';

-- Write the result, and only the result. UPDATE ... WHERE id IN (...) also needs SELECT, granted above.
GRANT UPDATE (netplan_success) ON multinic_db.multi_interface TO 'multinic'@'%';

-- The agents' own table (sql/fleet.sql): fleet status and rollout slots. No DELETE, no other table.
GRANT SELECT, INSERT, UPDATE ON multinic_db.multinic_agent_status TO 'multinic'@'%';

-- Optional: the subnet table some controller versions use for `cidr` (see sql/multi-subnet.sql).
GRANT SELECT ON multinic_db.multi_subnet TO 'multinic'@'%';
