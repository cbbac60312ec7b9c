-- Runs once, when the MySQL volume is first initialised (after MYSQL_USER is
-- created). The shop's user may create and use its per-service databases
-- (commerce_users, commerce_orders, ...) and nothing else.
GRANT ALL PRIVILEGES ON `commerce\_%`.* TO 'commerce'@'%';
