# The tutorial's shell session. tests/docs/test_tutorial.py pastes this file into
# `manage.py shell`, so what the tutorial shows is what the library does.
from __future__ import annotations

import time

from django.contrib.auth.models import User
from repairs.models import Repair

from django_assignment_timeout import OfferExpired

alice = User.objects.create_user("alice")
repair = Repair.objects.create(title="Boiler in flat 4")

# Offer it to Alice. The deadline is stored, computed on the database clock.
repair.offer(alice, timeout=1)  # one second instead of ten minutes, for the demo
print(repair.status, repair.technician, repair.assignment_attempt)

time.sleep(1.5)  # Alice says nothing...

try:
    repair.accept(alice)  # ...and answers too late, even though no sweep has run
except OfferExpired as err:
    print("Too late:", err)

print(repair.status, repair.technician)
print([event.kind for event in repair.assignment_events()])

# Offer it again, and let it run out; this time the sweep will end it.
repair.offer(alice, timeout=1)
print(repair.status, repair.assignment_attempt)
time.sleep(1.5)
