"""The facade that carries the actor: ``ws.as_user(principal)`` gives one object with one service per resource,
e.g. ``ws.as_user(p).tasks.list()``; the command line acts as :data:`~kehu.service.principal.SYSTEM`
(``ws.system()``). Every front (CLI, REST API, pages) calls these services, so each rule — scope, "overdue",
validation — is written once, in the resource's service module."""

from __future__ import annotations

from functools import cached_property

from kehu.service.campaigns import CampaignService
from kehu.service.capacity import CapacityService
from kehu.service.customers import CustomerService
from kehu.service.dashboard import DashboardService
from kehu.service.imports import ImportService
from kehu.service.kpis import KpiService
from kehu.service.loyalty import LoyaltyService
from kehu.service.models import ModelService
from kehu.service.notifications import NotificationService
from kehu.service.playbooks import PlaybookService
from kehu.service.principal import Principal, Workspace
from kehu.service.refresh import RefreshService
from kehu.service.segments import SegmentService
from kehu.service.system import SystemService
from kehu.service.tasks import TaskService
from kehu.service.tickets import TicketService
from kehu.service.users import UserService

__all__ = ["UserActor"]


class UserActor:
    """One actor on one workspace; each service is created on first use."""

    def __init__(self, ws: Workspace, principal: Principal) -> None:
        self.ws = ws
        self.principal = principal

    @cached_property
    def campaigns(self) -> CampaignService:
        """Campaigns (managers and admins)."""
        return CampaignService(self.ws, self.principal)

    @cached_property
    def capacity(self) -> CapacityService:
        """Daily task capacities and the backlog of actions that did not fit them."""
        return CapacityService(self.ws, self.principal)

    @cached_property
    def customers(self) -> CustomerService:
        """The customers the actor may see and the actions on them."""
        return CustomerService(self.ws, self.principal)

    @cached_property
    def dashboard(self) -> DashboardService:
        """The dashboard figures within the actor's scope."""
        return DashboardService(self.ws, self.principal)

    @cached_property
    def imports(self) -> ImportService:
        """Uploads, import jobs and import runs (admins and managers)."""
        return ImportService(self.ws, self.principal)

    @cached_property
    def kpis(self) -> KpiService:
        """KPIs over the customers the actor may see."""
        return KpiService(self.ws, self.principal)

    @cached_property
    def loyalty(self) -> LoyaltyService:
        """Points and tiers (managers and admins)."""
        return LoyaltyService(self.ws, self.principal)

    @cached_property
    def models(self) -> ModelService:
        """Churn, propensity and cross-sell models: training, report, diagnostics (admins)."""
        return ModelService(self.ws, self.principal)

    @cached_property
    def notifications(self) -> NotificationService:
        """The actor's own notifications and daily-digest choices."""
        return NotificationService(self.ws, self.principal)

    @cached_property
    def playbooks(self) -> PlaybookService:
        """Playbooks and the outbox (managers and admins)."""
        return PlaybookService(self.ws, self.principal)

    @cached_property
    def refresh(self) -> RefreshService:
        """The analytics run: its schedule, progress and "refresh now" (admins)."""
        return RefreshService(self.ws, self.principal)

    @cached_property
    def segments(self) -> SegmentService:
        """Segments within the actor's scope."""
        return SegmentService(self.ws, self.principal)

    @cached_property
    def system(self) -> SystemService:
        """Settings and the state of the system (admins)."""
        return SystemService(self.ws, self.principal)

    @cached_property
    def tasks(self) -> TaskService:
        """The tasks the actor may see and change."""
        return TaskService(self.ws, self.principal)

    @cached_property
    def tickets(self) -> TicketService:
        """Tickets of the customers the actor may see."""
        return TicketService(self.ws, self.principal)

    @cached_property
    def users(self) -> UserService:
        """Users the actor may see, and the actor's own account."""
        return UserService(self.ws, self.principal)
